"""JUnit XML from the artifacts of completed Actions runs.

For each completed run (once: the artifact list is kept as a raw record), artifacts whose name
matches ``github.artifact_pattern`` are downloaded — streamed to a temporary file, never held in
memory — and every ``*.xml`` member is handed, as a stream, to the JUnit importer (which parses
safely: no entities, no DTDs). Zip members are never extracted to disk, so their paths cannot
escape anywhere; sizes are capped against zip bombs.
"""

from __future__ import annotations

import fnmatch
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, BinaryIO

from sqlalchemy import select

from net.http import TooLarge
from connectors.frame import save_raw
from data import schema

from . import fetch

MAX_ARCHIVE_BYTES = 1 << 30  # 1 GiB downloaded
MAX_MEMBER_BYTES = 512 << 20  # 512 MiB uncompressed per report file
# GitHub keeps artifacts 90 days by default; listing older runs' artifacts would spend a
# request per run (thousands on a first sync) for nothing.
ARTIFACT_DAYS = 90


def junit_importer(settings: Any) -> Callable | None:
    """``(repo_sync, run, row)`` importing a completed run's JUnit artifacts, or None when the
    JUnit importer is not installed."""
    try:
        from connectors.junit.importer import import_streams
    except ImportError:
        return None
    pattern = settings.github.artifact_pattern

    def importer(rs, run: dict, row: dict) -> None:
        import_run_artifacts(rs, run, row, pattern, import_streams)

    return importer


def _already_listed(rs, key: str) -> bool:
    raw = schema.raw_records
    with rs.engine.connect() as conn:
        return conn.execute(select(raw.c.external_id).where(
            raw.c.source == "github", raw.c.resource == "artifacts",
            raw.c.external_id == key)).first() is not None


def import_run_artifacts(rs, run: dict, row: dict, pattern: str, import_streams) -> None:
    """List the run's artifacts once; import the JUnit files of those matching ``pattern``."""
    key = f"{rs.repo}:{run['id']}"
    created = fetch_time(run.get("created_at"))
    oldest = max(rs.lookback_start, rs.now - timedelta(days=ARTIFACT_DAYS))
    if created is not None and created < oldest:
        return  # older than the look-back window or the artifact retention
    if _already_listed(rs, key):
        return
    artifacts = fetch.all_items(rs.client, f"/repos/{rs.repo}/actions/runs/{run['id']}/artifacts",
                                params={"per_page": 100}, key="artifacts")
    wanted = [a for a in artifacts if not a.get("expired")
              and fnmatch.fnmatch((a.get("name") or "").lower(), pattern.lower())]
    for art in wanted:
        with tempfile.TemporaryFile() as tmp:
            if not _download(rs.client, art["archive_download_url"], tmp):
                rs.count("junit_errors", 1)  # over the size cap: skipped, not fatal
                continue
            try:
                archive = zipfile.ZipFile(tmp)
            except zipfile.BadZipFile:
                rs.count("junit_errors", 1)
                continue
            with archive, rs.engine.begin() as conn:
                result = import_streams(conn, row, _xml_members(archive, art["name"]))
            rs.count("test_results", result.tests)
            rs.count("junit_errors", len(result.errors))
    with rs.engine.begin() as conn:
        save_raw(conn, "github", "artifacts", rs.repo, [(key, artifacts)])


def fetch_time(text: str | None):
    from .normalize import parse_time

    return parse_time(text)


def _download(client, url: str, out: BinaryIO) -> bool:
    """Stream ``url`` into ``out``; False (and nothing usable) when it exceeds the cap.

    ``url`` must be on the configured API host (else :class:`~net.http.OffHost`): the
    token goes there only. GitHub answers with a redirect to signed blob storage, which is
    followed without any credential."""
    resp = client.get(url, stream=True, anonymous_redirects=True)
    try:
        for chunk in client.iter_body(resp, MAX_ARCHIVE_BYTES):
            out.write(chunk)
    except TooLarge:  # past the cap: skipped, not fatal
        return False
    out.seek(0)
    return True


def _xml_members(archive: zipfile.ZipFile, artifact: str) -> Iterator[tuple[str, BinaryIO]]:
    for info in archive.infolist():
        if info.is_dir() or not info.filename.lower().endswith(".xml"):
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            continue
        with archive.open(info) as stream:
            yield f"{artifact}/{info.filename}", stream
