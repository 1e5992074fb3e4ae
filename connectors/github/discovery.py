"""Which repositories a sync covers: the configured ``repos`` plus every repository the
configured ``orgs`` list, discovered again at every sync (README "GitHub at organisation
scale").

- Listing: ``GET /orgs/{org}/repos?type=all`` (a user's ``/users/{login}/repos`` when the
  name is a user), every page; forks and archived repositories are left out unless
  ``include_forks``/``include_archived``; ``include`` globs (any) then ``exclude`` globs (none)
  on OWNER/NAME, case-insensitive as GitHub's names are.
- A repository stored before but missing from its organisation's listing is confirmed with
  its own request: a 404 is reported (its rows stay; only the deletion guard of
  connectors/frame/deletions.py ever removes rows); an answer under another name (GitHub's
  301 for a renamed or transferred repository, followed on the configured host only) re-keys
  its rows to the new name (connectors/github/rekey.py), so waivers and snapshots stay
  attached, and the repository is synced under it; one still answering under its own name
  is synced as before.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from connectors.frame.paging import link_pages
from connectors.frame.shape import list_of_objects
from data import schema
from data.config import GithubSettings
from net.http import HttpClient, NotFound

from . import rekey as rk


@dataclass
class Discovery:
    repos: list[str] = field(default_factory=list)  # to sync, in order
    listed: dict[str, dict] = field(default_factory=dict)  # OWNER/NAME → the listing's object
    left_out: dict[str, str] = field(default_factory=dict)  # OWNER/NAME → why (fork, …)
    renamed: dict[str, str] = field(default_factory=dict)  # old → new
    gone: list[str] = field(default_factory=list)  # stored, answered 404
    both: dict[str, str] = field(default_factory=dict)  # old → new, both holding rows
    requests: int = 0

    def lines(self) -> list[str]:
        """What discovery found that a user should hear about, one line each."""
        out = [f"github: {old} is now {new} (GitHub redirects to it): its stored rows were "
               f"re-keyed to {new}" for old, new in self.renamed.items()]
        out += [f"github: repository {repo} is gone (404) or no longer visible to the token; "
                "its stored rows are kept (nothing is removed without a complete listing)"
                for repo in self.gone]
        out += [f"github: {old} is now {new}, and rows are stored under both names: nothing "
                f"was re-keyed; {new} is synced, {old}'s rows are kept as they are"
                for old, new in self.both.items()]
        return out


def matches(repo: str, patterns: list[str]) -> bool:
    name = repo.lower()
    return any(fnmatch.fnmatchcase(name, p.lower()) for p in patterns)


def why_left_out(item: dict, gh: GithubSettings) -> str | None:
    """Why the listed repository ``item`` is not synced, or None."""
    full = str(item.get("full_name") or "")
    if item.get("fork") and not gh.include_forks:
        return "fork (include_forks = false)"
    if item.get("archived") and not gh.include_archived:
        return "archived (include_archived = false)"
    if gh.include and not matches(full, gh.include):
        return "not matched by include"
    if gh.exclude and matches(full, gh.exclude):
        return "matched by exclude"
    return None


def list_org(client: HttpClient, org: str, per_page: int = 100) -> tuple[list[dict], int]:
    """Every repository ``org`` lists (an organisation, else a user), and the requests made."""
    made = 0
    for path in (f"/orgs/{org}/repos", f"/users/{org}/repos"):
        out: list[dict] = []
        try:
            number = 0
            for body, _resp in link_pages(client, path,
                                          params={"type": "all", "per_page": per_page}):
                made += 1
                number += 1
                for item in list_of_objects("github", body, f"page {number} of {path}"):
                    if isinstance(item.get("full_name"), str) and "/" in item["full_name"]:
                        out.append(item)
            return out, made
        except NotFound:
            made += 1
            continue
    raise NotFound(f"github: no organisation or user named {org!r} on this server (404) — "
                   "check [github] orgs, or that the token can see it")


def stored_repos(engine: Engine | None) -> set[str]:
    """Repositories with rows: a GitHub sync state or a repository scope (none without a
    database)."""
    if engine is None:
        return set()
    st, sc = schema.sync_state, schema.scopes
    with engine.connect() as conn:
        found = set(conn.execute(select(st.c.scope).where(st.c.source == "github")
                                 .distinct()).scalars())
        found |= set(conn.execute(select(sc.c.key).where(sc.c.source == "github",
                                                         sc.c.kind == "repository")).scalars())
    return {r for r in found if r and r.count("/") == 1}


def confirm(client: HttpClient, repo: str) -> tuple[str, str | None]:
    """``("gone", None)`` on a 404; ``("moved", new name)`` when GitHub answers for another
    name (a 301 followed on the configured host); else ``("here", repo)``."""
    body, resp = client.get_json(f"/repos/{repo}", allow=(404,))
    if resp.status_code == 404:
        return "gone", None
    full = body.get("full_name") if isinstance(body, dict) else None
    if isinstance(full, str) and full.count("/") == 1 and full.lower() != repo.lower():
        return "moved", full
    return "here", repo


def discover(engine: Engine | None, client: HttpClient, gh: GithubSettings, *,
             write: bool = True) -> Discovery:
    """The repositories to sync. ``write=False`` (``sync --plan``) reports renames without
    re-keying anything."""
    found = Discovery()
    seen: set[str] = set()

    def add(repo: str) -> None:
        if repo.lower() not in seen:
            seen.add(repo.lower())
            found.repos.append(repo)

    for repo in gh.repos:
        add(repo)
    if not gh.orgs:
        return found
    listed_lower: set[str] = set()
    for org in gh.orgs:
        items, made = list_org(client, org, gh.per_page)
        found.requests += made
        for item in items:
            full = item["full_name"]
            listed_lower.add(full.lower())
            found.listed[full] = item
            why = why_left_out(item, gh)
            if why is None:
                add(full)
            elif full.lower() not in seen:
                found.left_out[full] = why
    orgs = {o.lower() for o in gh.orgs}
    explicit = {r.lower() for r in gh.repos}
    for repo in sorted(stored_repos(engine)):
        low = repo.lower()
        if low.split("/")[0] not in orgs or low in listed_lower or low in explicit:
            continue
        state, new = confirm(client, repo)
        found.requests += 1
        if state == "gone":
            found.gone.append(repo)
        elif state == "moved" and new:
            found.renamed[repo] = new
            if write:
                with engine.begin() as conn:
                    if rk.has_rows(conn, new):
                        del found.renamed[repo]
                        found.both[repo] = new
                    else:
                        rk.rekey(conn, repo, new)
            if not (new.lower() in listed_lower and new in found.left_out):
                add(new)
        else:
            add(repo)
    return found
