"""``python -m connectors sync gitlab --url URL --project group/sub/project`` and the
configured sync (``[gitlab]`` in readiness.toml)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import Engine

from connectors.arguments import add_max_wait
from connectors.frame import DeletePolicy, SyncRun, sync_scopes
from connectors.progress import NULL_PROGRESS, Progress
from data.config import Settings
from net.http import Clock, SourceError, check_base_url
from net.secrets import get_secret

from .client import make_client
from .sync import ProjectSync, group_projects


def _path(text: str) -> str:
    parts = text.strip().strip("/").split("/")
    if len(parts) < 2 or not all(p.strip() for p in parts):
        raise argparse.ArgumentTypeError(f"expected a path such as group/project or "
                                         f"group/sub/project, got {text!r}")
    return "/".join(parts)


def _group(text: str) -> str:
    parts = text.strip().strip("/").split("/")
    if not all(p.strip() for p in parts):
        raise argparse.ArgumentTypeError(f"expected a group path such as group or group/sub, "
                                         f"got {text!r}")
    return "/".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="GitLab URL, e.g. https://gitlab.example.com or "
                             "https://example.com/gitlab (default: gitlab.url, "
                             "https://gitlab.com)")
    parser.add_argument("--project", action="append", type=_path, metavar="PATH",
                        help="project path group/sub/project; repeat for several "
                             "(default: gitlab.projects)")
    parser.add_argument("--group", action="append", type=_group, metavar="PATH",
                        help="group path: every project in it and its subgroups; repeat for "
                             "several (default: gitlab.groups)")
    parser.add_argument("--include-archived", action="store_true", default=None,
                        help="with --group: archived projects too (default: "
                             "gitlab.include_archived, false)")
    add_max_wait(parser, "gitlab")


_warned: set[str] = set()


def _token(env: str) -> str | None:
    token = get_secret(env)
    if not token and env not in _warned:
        _warned.add(env)
        print(f"gitlab: {env} is not set — syncing anonymously (public projects only); set "
              f"{env} to a token with the read_api scope", file=sys.stderr)
    return token


def sync_gitlab(settings: Settings, engine: Engine, progress: Progress, *, url: str,
                projects: list[str], groups: list[str], include_archived: bool,
                full: bool = False, max_wait: float | None = None, clock: Clock | None = None,
                token: str | None = None, allow_mass_delete: bool = False) -> dict[str, int]:
    """Sync each project (and each project of each group) in turn; one ``sync_runs`` row per
    project. A failing project does not stop the others; the first failure is raised last."""
    env = settings.gitlab.token_env
    if not url:
        raise SourceError("gitlab: no GitLab URL — pass --url https://gitlab.example.com or "
                          "set gitlab.url in readiness.toml")
    check_base_url(url, "gitlab", env)
    if not projects and not groups:
        raise SourceError("gitlab: no project — pass --project group/sub/project or "
                          "--group GROUP, or set gitlab.projects / gitlab.groups in "
                          "readiness.toml")
    if token is None:
        token = _token(env)
    client = make_client(url, token, token_env=env, clock=clock,
                         max_wait=settings.gitlab.max_wait if max_wait is None else max_wait)
    policy = DeletePolicy.from_settings(settings, allow_mass_delete)
    try:
        targets = list(projects)
        for group in groups:
            for path in group_projects(client, group, include_archived=include_archived,
                                       per_page=settings.gitlab.per_page):
                if path not in targets:
                    targets.append(path)
        return sync_scopes(targets, lambda path: sync_one(
            engine, client, settings, path, progress, full, policy))
    finally:
        client.close()


def sync_one(engine: Engine, client, settings: Settings, path: str, progress: Progress,
             full: bool = False, delete_policy: DeletePolicy | None = None) -> dict[str, int]:
    """One project, recorded as one ``sync_runs`` row (scope: its path)."""
    with SyncRun(engine, "gitlab", path, client) as run:
        return ProjectSync(engine=engine, client=client, settings=settings, path=path, run=run,
                           progress=progress, full=full,
                           delete_policy=delete_policy or DeletePolicy.from_settings(settings)
                           ).sync()


def run(args: argparse.Namespace, settings: Settings, engine: Engine,
        progress: Progress = NULL_PROGRESS, *, clock: Clock | None = None) -> dict[str, Any]:
    """Sync what the command line names (falling back to ``[gitlab]``)."""
    named = bool(args.project or args.group)
    include = args.include_archived if args.include_archived is not None \
        else settings.gitlab.include_archived
    return sync_gitlab(settings, engine, progress, url=args.url or settings.gitlab.url,
                       projects=list(args.project or ([] if named else settings.gitlab.projects)),
                       groups=list(args.group or ([] if named else settings.gitlab.groups)),
                       include_archived=include, full=bool(getattr(args, "full", False)),
                       max_wait=args.max_wait, clock=clock,
                       allow_mass_delete=bool(getattr(args, "allow_mass_delete", False)))


def sync_configured(settings: Settings, engine: Engine, progress: Progress = NULL_PROGRESS,
                    full: bool = False, *, clock: Clock | None = None,
                    allow_mass_delete: bool = False) -> dict[str, int]:
    """Sync ``[gitlab]`` of readiness.toml: its url, projects and groups."""
    gl = settings.gitlab
    return sync_gitlab(settings, engine, progress, url=gl.url, projects=list(gl.projects),
                       groups=list(gl.groups), include_archived=gl.include_archived, full=full,
                       clock=clock, allow_mass_delete=allow_mass_delete)
