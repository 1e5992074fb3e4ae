"""``python -m connectors sync github --repo OWNER/NAME``, the configured sync (``repos`` and
the repositories ``orgs`` list) and ``sync --plan``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import Engine

from connectors.arguments import add_max_wait
from net.http import Clock, check_base_url
from connectors.progress import Progress
from net.secrets import get_secret
from connectors.frame import DeletePolicy, SyncRun, sync_scopes
from data.config import Settings

from .client import make_client
from .sync import RepoSync


def _repo(text: str) -> str:
    parts = text.strip().strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected OWNER/NAME, got {text!r}")
    return "/".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, type=_repo, action="append",
                        help="repository OWNER/NAME (repeat for several)")
    parser.add_argument("--api-url", default=None,
                        help="API root, e.g. https://HOST/api/v3 for GitHub Enterprise Server "
                             "(default: github.api_url, https://api.github.com)")
    add_max_wait(parser, "github")


_warned_no_token: set[str] = set()


def _token(settings: Settings) -> tuple[str | None, str]:
    env = settings.github.token_env
    token = get_secret(env)
    if not token and env not in _warned_no_token:
        _warned_no_token.add(env)
        print(f"github: {env} is not set — syncing unauthenticated (60 requests per hour); "
              f"set {env} to a token for 5,000", file=sys.stderr)
    return token, env


def sync_repos(settings: Settings, engine: Engine, progress: Progress, repos: list[str], *,
               api_url: str | None = None, max_wait: float | None = None, full: bool = False,
               clock: Clock | None = None, token: str | None = None,
               token_env: str | None = None, allow_mass_delete: bool = False) -> dict[str, int]:
    """Sync each repository in turn; one ``sync_runs`` row per repository. A failing repo does
    not stop the others; the first failure is raised at the end. ``allow_mass_delete`` lifts
    the ``[app] max_delete_share`` limit on removals (``--allow-mass-delete``)."""
    client = open_client(settings, api_url=api_url, max_wait=max_wait, clock=clock,
                         token=token, token_env=token_env)
    try:
        return _sync_all(settings, engine, progress, client, repos, full, allow_mass_delete)
    finally:
        client.close()


def open_client(settings: Settings, *, api_url: str | None = None,
                max_wait: float | None = None, clock: Clock | None = None,
                token: str | None = None, token_env: str | None = None):
    """The GitHub session for this run: one per token, so requests stay serial."""
    api_url = api_url or settings.github.api_url
    env = token_env or settings.github.token_env
    check_base_url(api_url, "github", env)  # before any warning about the token
    if token is None and token_env is None:
        token, token_env = _token(settings)
    return make_client(api_url, token,
                       token_env=token_env or "GITHUB_TOKEN", clock=clock,
                       max_wait=settings.github.max_wait if max_wait is None else max_wait)


def _sync_all(settings: Settings, engine: Engine, progress: Progress, client,
              repos: list[str], full: bool, allow_mass_delete: bool) -> dict[str, int]:
    from .graphql import GraphQL

    policy = DeletePolicy.from_settings(settings, allow_mass_delete)
    gql = GraphQL(client)  # one GraphQL budget across the repositories
    return sync_scopes(repos, lambda repo: sync_one(
        engine, client, settings, repo, settings.project_for_repo(repo) or repo, progress,
        full, policy, graphql=gql))


def sync_one(engine: Engine, client, settings: Settings, repo: str, project: str,
             progress: Progress, full: bool = False,
             delete_policy: DeletePolicy | None = None, graphql: Any = None) -> dict[str, int]:
    """One repository, recorded as one ``sync_runs`` row."""
    from .artifacts import junit_importer

    with SyncRun(engine, "github", repo, client) as run:
        return RepoSync(engine=engine, client=client, repo=repo, project=project,
                        mapping=settings.mapping, github=settings.github, run=run,
                        progress=progress, full=full,
                        junit_importer=junit_importer(settings),
                        delete_policy=delete_policy or DeletePolicy.from_settings(settings),
                        graphql=graphql).sync()


def run(args: argparse.Namespace, settings: Settings, engine: Engine,
        progress: Progress) -> dict[str, Any]:
    return sync_repos(settings, engine, progress, args.repo, api_url=args.api_url,
                      max_wait=args.max_wait, full=getattr(args, "full", False),
                      allow_mass_delete=getattr(args, "allow_mass_delete", False))


def sync_configured(settings: Settings, engine: Engine, progress: Progress,
                    full: bool = False, allow_mass_delete: bool = False, *,
                    clock: Clock | None = None, token: str | None = None,
                    token_env: str | None = None) -> dict[str, int]:
    """``[github] repos`` and every repository of ``[github] orgs``, discovered again now
    (connectors/github/discovery.py); renames and repositories gone are reported on stderr."""
    from .discovery import discover

    client = open_client(settings, clock=clock, token=token, token_env=token_env)
    try:
        found = discover(engine, client, settings.github)
        for line in found.lines():
            print(line, file=sys.stderr)
        return _sync_all(settings, engine, progress, client, found.repos, full,
                         allow_mass_delete)
    finally:
        client.close()


def plan(settings: Settings, engine: Engine | None, *, clock: Clock | None = None,
         token: str | None = None, token_env: str | None = None, out=None) -> dict[str, Any]:
    """``sync --plan``: what a sync of the configured scope would fetch and cost, printed;
    nothing is written (connectors/github/plan.py)."""
    from .plan import make_plan

    client = open_client(settings, clock=clock, token=token, token_env=token_env)
    try:
        return make_plan(settings, engine, client, out=out or sys.stdout)
    finally:
        client.close()
