"""docs/cli.md names every command and option the argparse definitions accept, so a new option
cannot ship undocumented."""

from __future__ import annotations

import argparse
from pathlib import Path

from connectors.__main__ import build_parser as connectors_parser
from jobs.__main__ import build_parser as jobs_parser
from metrics.__main__ import build_parser as metrics_parser
from ui.launch import build_parser as launch_parser

DOC = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, option string) for every option of every (sub)command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path + (name,), None
                yield from _walk(sub, path + (name,))
        elif action.option_strings and "--help" not in action.option_strings:
            yield path, max(action.option_strings, key=len)


def test_every_command_and_option_is_in_docs_cli():
    missing = []
    for parser in (connectors_parser(), metrics_parser(), launch_parser(), jobs_parser()):
        for path, option in _walk(parser):
            word = f"`{option}" if option else f"`{path[-1]}`"
            if word not in DOC and (option is None or f" {option}" not in DOC):
                missing.append(" ".join(path) + (f" {option}" if option else ""))
    assert missing == [], f"docs/cli.md does not mention: {missing}"


def test_the_check_finds_a_missing_option():
    parser = argparse.ArgumentParser()
    parser.add_argument("--not-documented-anywhere")
    assert [o for _, o in _walk(parser)] == ["--not-documented-anywhere"]
    assert "--not-documented-anywhere" not in DOC
