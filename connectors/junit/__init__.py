"""``python -m connectors import-junit PATH... --pipeline NAME [--run-id ID] [--sha SHA] [--branch B]``

PATH is a report file, a folder (every ``*.xml`` below it), a glob (``**`` allowed) or a
``.zip`` (its ``*.xml`` members are streamed, never extracted). All the files of one command
form one run in ``pipeline_runs`` (source ``junit``): ``junit:run:<pipeline>:<ID>`` with
``--run-id``, else ``junit:run:<hash>`` of pipeline, sha, branch and the sorted file names, so
importing the same files again replaces that run's results instead of adding a second run.

Exit code 0 when every file was imported; 1 when any was not — each such file is named on
stderr with the parser's line and the reason, and the other files are still imported.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine, select, update

from connectors.arguments import bounded_text
from net.http import SourceError
from connectors.junit.importer import ImportResult, import_streams, run_conclusion
from connectors.junit.parse import JUnitError, TestCase, iter_cases
from connectors.frame import SyncRun
from data import schema

__all__ = ["add_arguments", "run", "import_paths", "derive_run_id", "expand_paths",
           "import_streams", "iter_cases", "JUnitError", "TestCase", "ImportResult"]

SOURCE = "junit"
MAX_RUN_ID = 100  # characters
Opener = Callable[[], AbstractContextManager[BinaryIO]]


class ImportFailed(SourceError):
    """Some files were refused (the others were imported)."""


def _run_id(text: str) -> str:
    """``--run-id``: capped like any stored name; one made of digits is also the run's build
    number, an integer column, so it must fit one."""
    text = bounded_text("run id", MAX_RUN_ID, allow_empty=True)(text)
    if text.isdigit() and (not text.isascii() or int(text) >= 2**31):
        raise argparse.ArgumentTypeError(
            f"a run id made of digits is a build number and must be below 2,147,483,648, "
            f"got {text[:20]!r}{'…' if len(text) > 20 else ''}")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="report file, folder (recursive *.xml), glob or .zip")
    # The run's id is junit:run:<pipeline>:<run id>, in a 255-character column: both parts
    # are capped so that it always fits (a CI variable gone wrong can be any length).
    parser.add_argument("--pipeline", required=True, type=bounded_text("pipeline name", 100),
                        help="pipeline (job, workflow) these results belong to")
    parser.add_argument("--run-id", default=None, type=_run_id,
                        help="run identifier, e.g. the CI build number (default: derived from "
                             "pipeline, sha, branch and file names, so a re-import replaces)")
    parser.add_argument("--sha", default=None, type=bounded_text("commit sha", 64),
                        help="commit the tests ran on")
    parser.add_argument("--branch", default=None, type=bounded_text("branch name", 255),
                        help="branch the tests ran on")


def derive_run_id(pipeline: str, sha: str | None, branch: str | None, names: list[str],
                  run_id: str | None = None) -> str:
    """The ``pipeline_runs.id`` of an import: explicit, or a stable hash of what identifies it."""
    if run_id:
        return f"junit:run:{pipeline}:{run_id}"
    key = "\x1f".join([pipeline, sha or "", branch or "", *sorted(names)])
    return "junit:run:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


@contextmanager
def _open_file(path: str) -> Iterator[BinaryIO]:
    with open(path, "rb") as fh:
        yield fh


@contextmanager
def _open_member(archive: str, member: str) -> Iterator[BinaryIO]:
    with zipfile.ZipFile(archive) as zf, zf.open(member) as fh:
        yield fh


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _expand_one(path: str) -> tuple[list[tuple[str, Opener]], str | None]:
    """Files named by one PATH argument, or the reason it names none."""
    if os.path.isdir(path):
        found = sorted(p for p in Path(path).rglob("*") if p.is_file()
                       and p.suffix.lower() == ".xml")
        if not found:
            return [], f"{path}: no *.xml files in this folder"
        return [(p.as_posix(), lambda p=p: _open_file(str(p))) for p in found], None
    if os.path.isfile(path):
        if path.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(path) as zf:
                    members = sorted(i.filename for i in zf.infolist()
                                     if not i.is_dir() and i.filename.lower().endswith(".xml"))
            except (zipfile.BadZipFile, OSError) as exc:
                return [], f"{path}: not a readable zip archive ({exc.__class__.__name__})"
            if not members:
                return [], f"{path}: no *.xml members in this zip"
            return [(f"{path}/{m}", lambda m=m: _open_member(path, m)) for m in members], None
        return [(Path(path).as_posix(), lambda: _open_file(path))], None
    if _is_glob(path):
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            return [], f"{path}: the pattern matches no file"
        files: list[tuple[str, Opener]] = []
        for match in matches:
            if os.path.isdir(match):
                continue  # a pattern like reports/** also yields folders; their files match too
            more, _ = _expand_one(match)
            files += more
        if not files:
            return [], f"{path}: the pattern matches no file"
        return files, None
    return [], f"{path}: no such file or folder"


def expand_paths(paths: list[str]) -> tuple[list[tuple[str, Opener]], list[str]]:
    """``(name, opener)`` per report file named by ``paths`` (deduplicated), and problems."""
    seen: set[str] = set()
    files: list[tuple[str, Opener]] = []
    problems: list[str] = []
    for path in paths:
        found, problem = _expand_one(path)
        if problem:
            problems.append(problem)
        for name, opener in found:
            if name not in seen:
                seen.add(name)
                files.append((name, opener))
    return files, problems


def _streams(files: list[tuple[str, Opener]],
             errors: list[str]) -> Iterator[tuple[str, BinaryIO]]:
    for name, opener in files:
        try:
            with opener() as fh:
                yield name, fh
        except (OSError, zipfile.BadZipFile) as exc:
            errors.append(f"{name}: cannot open ({exc.__class__.__name__}); not imported")


def import_paths(engine: Engine, paths: list[str], *, pipeline: str, run_id: str | None = None,
                 sha: str | None = None, branch: str | None = None,
                 progress=None) -> tuple[ImportResult | None, list[str]]:
    """Import the reports named by ``paths`` as one run. Returns the result and every problem
    (one line each: unusable paths and refused files). Records the import in ``sync_runs``."""
    files, problems = expand_paths(paths)
    names = [name for name, _ in files]
    rid = derive_run_id(pipeline, sha, branch, names, run_id)
    now = datetime.now(timezone.utc)
    row = {"id": rid, "source": SOURCE, "pipeline": pipeline, "branch": branch, "sha": sha,
           "event": "import", "status": "completed", "created_at": now,
           "number": int(run_id) if run_id and run_id.isdigit() else None,
           "url": None}
    result: ImportResult | None = None
    try:
        with SyncRun(engine, SOURCE, pipeline) as sync:
            if files:
                open_errors: list[str] = []
                with engine.begin() as conn:
                    result = import_streams(conn, row, _streams(files, open_errors),
                                            progress=progress)
                    if result.files:
                        _finish_run(conn, result)
                problems += open_errors + [str(e) for e in result.errors]
                sync.add("files", len(result.files))
                sync.add("test_results", result.tests)
            if problems:
                done = len(result.files) if result else 0
                raise ImportFailed(f"{len(problems)} path(s) or file(s) not imported "
                                   f"({done} imported); first: {problems[0]}")
    except ImportFailed:
        pass
    return result, problems


def _finish_run(conn, result: ImportResult) -> None:
    pr = schema.pipeline_runs
    started = conn.execute(select(pr.c.started_at).where(pr.c.id == result.run_id)).scalar()
    conn.execute(update(pr).where(pr.c.id == result.run_id).values(
        conclusion=run_conclusion(conn, result.run_id),
        started_at=result.earliest or started or datetime.now(timezone.utc)))


def run(args: argparse.Namespace, settings, engine: Engine, progress) -> int:
    """The CLI command: 0 when every file was imported, 1 otherwise (problems on stderr)."""
    try:
        result, problems = import_paths(engine, args.paths, pipeline=args.pipeline,
                                        run_id=args.run_id, sha=args.sha, branch=args.branch,
                                        progress=progress)
    finally:
        progress.close()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if result is not None and result.files:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())) or "no tests"
        print(f"junit: {len(result.files)} file(s) into run {result.run_id}: "
              f"{result.tests} tests ({detail})")
    else:
        print("junit: nothing imported", file=sys.stderr)
    return 1 if problems else 0
