"""``python -m connectors sync jenkins --url URL --job NAME`` and the configured-jobs sync."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import Engine

from connectors.arguments import add_max_wait
from net.http import Clock
from connectors.progress import Progress
from net.secrets import get_secret
from connectors.frame import SyncRun, sync_scopes
from data.config import ConfigError, Settings

from . import fetch
from . import normalize as nz
from .sync import JobSync


def _job(text: str) -> str:
    name = nz.job_name(text)
    if not name:
        raise argparse.ArgumentTypeError(f"expected a job path such as folder/job, got {text!r}")
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="Jenkins base URL, e.g. https://ci.example.com/ (default: "
                             "jenkins.url in readiness.toml)")
    parser.add_argument("--job", type=_job, action="append", default=None,
                        help="job path: folder/job, folder/multibranch/branch (repeat for "
                             "several; default: jenkins.jobs)")
    add_max_wait(parser, "jenkins")


def _credentials() -> tuple[str | None, str | None]:
    user, token = get_secret("JENKINS_USER", secret=False), get_secret("JENKINS_TOKEN")
    if bool(user) != bool(token):
        print("jenkins: set both JENKINS_USER and JENKINS_TOKEN for basic auth; "
              "syncing anonymously", file=sys.stderr)
    return (user, token) if user and token else (None, None)


def sync_jobs(settings: Settings, engine: Engine, progress: Progress, url: str | None,
              jobs: list[str], *, full: bool = False, max_wait: float | None = None,
              clock: Clock | None = None, page_size: int = fetch.PAGE_SIZE) -> dict[str, int]:
    """Sync each job in turn, one ``sync_runs`` row per job. A failing job does not stop the
    others; the first failure is raised at the end."""
    url = url or settings.jenkins.url
    if not url:
        raise ConfigError("jenkins: no server URL — pass --url or set [jenkins] url in "
                          "readiness.toml")
    if not jobs:
        raise ConfigError("jenkins: no job — pass --job NAME or list [jenkins] jobs in "
                          "readiness.toml")
    user, token = _credentials()
    client = fetch.make_client(url, user, token, clock=clock,
                               max_wait=settings.jenkins.max_wait if max_wait is None
                               else max_wait)

    def sync_job(job: str) -> dict[str, int]:
        with SyncRun(engine, nz.SOURCE, job, client) as run:
            return JobSync(
                engine=engine, client=client, job=job, mapping=settings.mapping,
                deploy_job_pattern=settings.jenkins.deploy_job_pattern,
                project_for_repo=settings.project_for_repo, run=run,
                progress=progress, full=full, page_size=page_size).sync()

    try:
        return sync_scopes(jobs, sync_job)
    finally:
        client.close()


def run(args: argparse.Namespace, settings: Settings, engine: Engine,
        progress: Progress) -> dict[str, Any]:
    # --allow-mass-delete is accepted as by every source; a Jenkins sync removes nothing.
    jobs = args.job or list(settings.jenkins.jobs)
    return sync_jobs(settings, engine, progress, args.url, [nz.job_name(j) for j in jobs],
                     full=getattr(args, "full", False), max_wait=args.max_wait)


def sync_configured(settings: Settings, engine: Engine, progress: Progress,
                    full: bool = False, allow_mass_delete: bool = False) -> dict[str, int]:
    """Sync ``[jenkins]`` of readiness.toml. ``allow_mass_delete`` is accepted like every
    source's; a Jenkins sync removes nothing (builds Jenkins discarded stay as history)."""
    return sync_jobs(settings, engine, progress, None,
                     [nz.job_name(j) for j in settings.jenkins.jobs], full=full)
