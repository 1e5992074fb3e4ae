"""Jira connector: ``python -m connectors sync jira --url URL --project KEY [--board ID]``.

Issues (with their full changelog), fix versions, boards and sprints of Jira Cloud or Data
Center become ``work_items``, ``work_item_changes``, ``releases``/``release_items`` and
``sprints``/``sprint_items``. Modules: ``client`` (auth, rate limits), ``fetch`` (endpoints,
paging), ``normalize`` (pure payload → rows), ``sync`` (transactions and cursors).
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import Engine

from connectors.arguments import add_max_wait
from net.http import Clock, SourceError
from connectors.jira.client import make_client
from connectors.jira.sync import sync_project
from connectors.progress import NULL_PROGRESS, Progress
from connectors.frame import DeletePolicy, sync_scopes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="Jira base URL, e.g. https://acme.atlassian.net "
                                      "(default: jira.url in readiness.toml)")
    parser.add_argument("--project", action="append", metavar="KEY",
                        help="project key; repeat for several (default: jira.projects)")
    parser.add_argument("--board", action="append", type=int, metavar="ID",
                        help="board id for sprints and the story-point field; repeat for "
                             "several (default: jira.boards, else the project's boards)")
    add_max_wait(parser, "jira")


def _sync(settings: Any, engine: Engine, progress: Progress, *, url: str, projects: list[str],
          boards: list[str], full: bool, max_wait: float | None,
          clock: Clock | None = None, allow_mass_delete: bool = False) -> dict[str, int]:
    if not url:
        raise SourceError("jira: no Jira URL — pass --url https://YOUR-SITE.atlassian.net or "
                          "set jira.url in readiness.toml")
    if not projects:
        raise SourceError("jira: no project — pass --project KEY or set jira.projects in "
                          "readiness.toml")
    client = make_client(url, clock=clock,
                         max_wait=max_wait if max_wait is not None else settings.jira.max_wait)
    policy = DeletePolicy.from_settings(settings, allow_mass_delete)
    try:
        # one sync_runs row per project; a failing project does not stop the others
        return sync_scopes(projects, lambda project: sync_project(
            client, engine, settings, project, board_ids=boards, full=full, progress=progress,
            delete_policy=policy))
    finally:
        client.close()


def run(args: argparse.Namespace, settings: Any, engine: Engine,
        progress: Progress = NULL_PROGRESS, *, clock: Clock | None = None) -> dict[str, int]:
    """Sync what the command line names (falling back to ``[jira]`` in readiness.toml)."""
    return _sync(settings, engine, progress,
                 url=args.url or settings.jira.url,
                 projects=args.project or list(settings.jira.projects),
                 boards=[str(b) for b in (args.board or settings.jira.boards)],
                 full=bool(getattr(args, "full", False)), max_wait=args.max_wait, clock=clock,
                 allow_mass_delete=bool(getattr(args, "allow_mass_delete", False)))


def sync_configured(settings: Any, engine: Engine, progress: Progress = NULL_PROGRESS,
                    full: bool = False, *, clock: Clock | None = None,
                    allow_mass_delete: bool = False) -> dict[str, int]:
    """Sync ``[jira]`` of readiness.toml: its url, projects and boards."""
    return _sync(settings, engine, progress, url=settings.jira.url,
                 projects=list(settings.jira.projects),
                 boards=[str(b) for b in settings.jira.boards], full=full,
                 max_wait=None, clock=clock, allow_mass_delete=allow_mass_delete)
