"""Jenkins JSON API requests: the session, build pages, single builds, test reports.

Builds are read newest first through ``allBuilds[…]{m,n}`` range pages (``builds`` stops at
the newest 100); ``tree=`` names only the fields we store, which keeps Jenkins from
serialising every action of every build.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from connectors.http import SYSTEM_CLOCK, Clock, HttpClient, retry_after_policy

from .normalize import job_path

PAGE_SIZE = 100
BUILD_FIELDS = ("number,result,building,timestamp,duration,url,"
                "actions[lastBuiltRevision[SHA1,branch[name]],remoteUrls]")
REPORT_TREE = ("suites[name,cases[className,name,status,duration,errorDetails,skipped,"
               "skippedMessage]]")
TOKEN_HINT = "JENKINS_USER and JENKINS_TOKEN (a Jenkins API token)"


def make_client(url: str, user: str | None, token: str | None, *, clock: Clock | None = None,
                max_wait: float = 900.0) -> HttpClient:
    """A session for one Jenkins; basic auth when both user and token are given."""
    auth = {}
    if user and token:
        pair = base64.b64encode(f"{user}:{token}".encode("utf-8")).decode("ascii")
        auth["Authorization"] = f"Basic {pair}"
    client = HttpClient(base_url=url, source="jenkins", auth_headers=auth,
                        token_hint=TOKEN_HINT, clock=clock or SYSTEM_CLOCK, max_wait=max_wait,
                        rate_limit_policy=retry_after_policy)
    client.session.headers["Accept"] = "application/json"
    return client


def iter_build_pages(client: HttpClient, job: str,
                     page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
    """Pages of builds, newest first, until a short page. The caller stops early when it
    reaches builds it already has."""
    start = 0
    while True:
        tree = f"allBuilds[{BUILD_FIELDS}]{{{start},{start + page_size}}}"
        body, _ = client.get_json(f"{job_path(job)}api/json", params={"tree": tree})
        builds = [b for b in (body or {}).get("allBuilds") or [] if isinstance(b, dict)]
        yield builds
        if len(builds) < page_size:
            return
        start += page_size


def fetch_build(client: HttpClient, job: str, number: int) -> dict[str, Any] | None:
    """One build (to refetch one still running at the last sync); None if it was deleted."""
    return _json_or_none(client, f"{job_path(job)}{number}/api/json", {"tree": BUILD_FIELDS})


def fetch_test_report(client: HttpClient, job: str, number: int) -> dict[str, Any] | None:
    """The build's JUnit report; None when it published none (Jenkins answers 404)."""
    return _json_or_none(client, f"{job_path(job)}{number}/testReport/api/json",
                         {"tree": REPORT_TREE})


def _json_or_none(client: HttpClient, path: str, params: dict[str, str]) -> Any:
    """The JSON at ``path``, None on a 404. A body that is not JSON is fetched again through
    ``get_json`` — by the same path on the configured host (never a redirect's target), which
    retries and then reports it."""
    resp = client.get(path, params=params, allow=(404,))
    if resp.status_code == 404:
        return None
    try:
        return client.decode(resp)
    except ValueError:
        body, _ = client.get_json(path, params=params)
        return body
