"""Jenkins JSON API requests: the session, build pages, single builds, test reports.

Builds are read newest first through ``allBuilds[…]{m,n}`` range pages (``builds`` stops at
the newest 100); ``tree=`` names only the fields we store, which keeps Jenkins from
serialising every action of every build.

Answers are checked for shape: a ``null``, a list where an object belongs (or the reverse) or
a build without its number raises one :class:`BadResponse` line naming the page or build — a
``null`` test report must not pass for "no report" and wipe a build's stored results.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from net.http import SYSTEM_CLOCK, Clock, HttpClient, retry_after_policy
from connectors.frame import bad_shape
from connectors.frame.paging import Endpoint, Listing, range_pages

from .normalize import build_rows, job_path

PAGE_SIZE = 100
BUILD_FIELDS = ("number,result,building,timestamp,duration,url,"
                "actions[lastBuiltRevision[SHA1,branch[name]],remoteUrls]")
REPORT_TREE = ("suites[name,cases[className,name,status,duration,errorDetails,skipped,"
               "skippedMessage]]")
TOKEN_HINT = "JENKINS_USER and JENKINS_TOKEN (a Jenkins API token)"


def make_client(url: str, user: str | None, token: str | None, *, clock: Clock | None = None,
                max_wait: float = 900.0) -> HttpClient:
    """A session for one Jenkins; basic auth when both user and token are given."""
    client = HttpClient(base_url=url, source="jenkins",
                        basic_auth=(user, token) if user and token else None,
                        token_hint=TOKEN_HINT, clock=clock or SYSTEM_CLOCK, max_wait=max_wait,
                        rate_limit_policy=retry_after_policy)
    client.session.headers["Accept"] = "application/json"
    return client


# Builds, newest first, in tree= range pages (``builds`` alone stops at the newest 100).
BUILDS = Endpoint(resource="builds", path="{job}api/json", paging="range", items="allBuilds",
                  incremental="number", normalise=build_rows)


def _builds(body: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        raise bad_shape("jenkins", where, "an object", body)
    builds = body.get("allBuilds")
    if not isinstance(builds, list):
        raise bad_shape("jenkins", where, "an 'allBuilds' list (is it a job?)", builds)
    for build in builds:
        check_build(build, where)
    return builds


def iter_build_pages(client: HttpClient, job: str,
                     page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
    """Pages of builds, newest first, until a short page. The caller stops early when it
    reaches builds it already has."""
    return range_pages(client, BUILDS.url(job=job_path(job)), page_size=page_size,
                       tree=lambda m, n: f"allBuilds[{BUILD_FIELDS}]{{{m},{n}}}",
                       listing=Listing(), read=_builds,
                       where=lambda m, n: f"builds {m}-{n} of {job}")


def fetch_build(client: HttpClient, job: str, number: int) -> dict[str, Any] | None:
    """One build (to refetch one still running at the last sync); None if it was deleted."""
    where = f"build {number} of {job}"
    build = _json_or_none(client, f"{job_path(job)}{number}/api/json", {"tree": BUILD_FIELDS},
                          where, "a build object")
    return None if build is None else check_build(build, where)


def check_build(build: Any, where: str) -> dict[str, Any]:
    """``build`` if it is an object with a whole ``number``; else the one-line error."""
    if not isinstance(build, dict):
        raise bad_shape("jenkins", where, "a build object", build)
    number = build.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise bad_shape("jenkins", where, "a build with a whole 'number'", number)
    return build


def fetch_test_report(client: HttpClient, job: str, number: int) -> dict[str, Any] | None:
    """The build's JUnit report; None when it published none (Jenkins answers 404)."""
    where = f"the test report of build {number} of {job}"
    report = _json_or_none(client, f"{job_path(job)}{number}/testReport/api/json",
                           {"tree": REPORT_TREE}, where, "an object")
    if report is None:
        return None
    if not isinstance(report, dict):
        raise bad_shape("jenkins", where, "an object", report)
    suites = report.get("suites")  # asked for by tree=, so always there
    if not isinstance(suites, list):
        raise bad_shape("jenkins", where, "a 'suites' list", suites)
    for suite in suites:
        if not isinstance(suite, dict) or not isinstance(suite.get("cases", []), list):
            raise bad_shape("jenkins", where, "suites, each an object with a 'cases' list",
                            suite if not isinstance(suite, dict) else suite.get("cases"))
        for case in suite.get("cases", []):
            if not isinstance(case, dict):
                raise bad_shape("jenkins", where, "test cases as objects", case)
    return report


def _json_or_none(client: HttpClient, path: str, params: dict[str, str], where: str,
                  expected: str) -> Any:
    """The JSON at ``path``, None on a 404 — and a body of JSON ``null`` raises instead (it must
    not pass for "no report" and wipe a build's stored results). A body that is not JSON is
    fetched again through ``get_json`` — by the same path on the configured host (never a
    redirect's target), which retries and then reports it."""
    resp = client.get(path, params=params, allow=(404,))
    if resp.status_code == 404:
        return None
    try:
        body = client.decode(resp)
    except ValueError:
        body, _ = client.get_json(path, params=params)
    if body is None:
        raise bad_shape("jenkins", where, expected, body)
    return body
