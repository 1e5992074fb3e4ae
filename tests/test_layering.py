"""metrics/ must not know where a row came from: no source names, no repository-path shapes.

A metric that branches on ``source`` breaks the day a new source arrives (a GitLab item would
fall into whichever branch is the "else"). Only code is checked: string constants used in a
comparison, a call's arguments, a subscript or a container literal — a docstring or comment
naming a source is fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"github", "jira", "jenkins", "gitlab", "demo", "junit"}


def _code_strings(tree: ast.AST):
    """(line, text) of the string constants that are not docstrings or bare expressions."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def source_literals(code: str) -> list[tuple[int, str]]:
    """Lines where ``code`` uses a source name as a string constant."""
    return [(line, text) for line, text in _code_strings(ast.parse(code))
            if text.strip().lower() in SOURCES]


def slash_counts(code: str) -> list[int]:
    """Lines that count slashes in something (``key.count("/")``): a path shape test."""
    out = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("count", "split", "rsplit") and node.args \
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == "/":
            out.append(node.lineno)
    return out


def test_the_checks_find_what_they_look_for():
    code = ('"""Mentions github and jira freely."""\n'
            'def f(row):\n'
            '    """jira here too"""\n'
            '    # github in a comment\n'
            '    if row.get("source") != "github":\n'
            '        return 1\n'
            '    return row["project"].count("/") == 1\n')
    assert source_literals(code) == [(5, "github")]
    assert slash_counts(code) == [7]
    assert source_literals('x = {"Jira": 1}') == [(1, "Jira")]
    assert source_literals('def f():\n    "gitlab"\n') == []


def test_metrics_have_no_source_branch():
    found = []
    for path in sorted((ROOT / "metrics").rglob("*.py")):
        code = path.read_text()
        found += [f"{path.relative_to(ROOT)}:{line}: {text!r}"
                  for line, text in source_literals(code)]
        found += [f"{path.relative_to(ROOT)}:{line}: a path shape test (count/split of '/')"
                  for line in slash_counts(code)]
    assert found == [], "metrics/ must read domain rows, not branch on a source:\n" + \
        "\n".join(found)


# metrics/ reads the domain; the one module that calls out is the webhook sender, through the
# shared HTTP client (docs/architecture.md, Dependency direction).
MAY_CALL_OUT = {"metrics/webhook.py"}
NEVER_IN_METRICS = {"connectors", "ui", "pages", "app", "streamlit"}


def imported_packages(code: str) -> set[str]:
    """Top-level packages ``code`` imports (at any depth: imports inside functions count)."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_import_check_finds_imports_inside_functions():
    code = "import os\ndef f():\n    from net.http import HttpClient\n    import streamlit as st\n"
    assert imported_packages(code) == {"os", "net", "streamlit"}


def test_metrics_import_no_connector_ui_or_net_but_the_webhook_sender():
    found = []
    for path in sorted((ROOT / "metrics").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        packages = imported_packages(path.read_text())
        banned = packages & (NEVER_IN_METRICS | ({"net"} if rel not in MAY_CALL_OUT else set()))
        found += [f"{rel}: imports {p}" for p in sorted(banned)]
    assert found == [], "metrics/ imports against the layers:\n" + "\n".join(found)
    assert "net" in imported_packages((ROOT / "metrics" / "webhook.py").read_text())


def test_the_scheduler_sits_above_connectors_and_metrics():
    """jobs/ calls connectors/ and metrics/; nothing below it imports jobs/ (docs/architecture.md)."""
    assert imported_packages("import jobs.schedule\nfrom jobs import x\nfrom . import y\n") \
        == {"jobs"}
    found = [f"{path.relative_to(ROOT)}"
             for below in ("connectors", "metrics", "data", "net")
             for path in sorted((ROOT / below).rglob("*.py"))
             if "jobs" in imported_packages(path.read_text())]
    assert found == [], f"these import jobs/, which sits above them: {found}"
    uses = set().union(*(imported_packages(p.read_text())
                         for p in (ROOT / "jobs").rglob("*.py")))
    assert {"connectors", "metrics"} <= uses
