"""JUnit XML from the artifacts of completed runs (wired up once connectors.junit lands)."""

from __future__ import annotations

from typing import Any


def junit_importer(settings: Any):
    """A callable ``(repo_sync, run, row)`` that imports the run's JUnit artifacts, or None
    when the JUnit importer is not available."""
    return None
