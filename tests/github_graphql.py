"""GitHub's GraphQL API for the fake server: every query checked against GitHub's public
schema (corpus github/graphql/schema.graphql, octokit/graphql-schema) when the corpus has it,
and executed by graphql-core over the fake's data with a subset of that schema kept in the
tests (tests/github_graphql_subset.graphql: only what the connector's queries touch), so the
fake runs on a machine without the corpus too. A field or argument GitHub does not have is
refused with GitHub's own kind of answer (HTTP 200, ``errors``, no ``data``) and fails the
test; without the corpus only the subset checks, and the subset is checked against the full
schema (:func:`subset_disagreements`) by a test that needs the corpus.

Answers take the shapes GitHub gives: ``PullRequest.author`` is an ``Actor`` (``User`` or
``Bot``, told apart by ``__typename``), commits are ``PullRequestCommit`` nodes wrapping a
``Commit``, a pull request that does not exist is ``null`` with a ``NOT_FOUND`` error. The
REST payloads the fake holds (pull request, its commits and reviews) are translated field by
field: ``commit.author.date`` → ``authoredDate``, ``user.type == "Bot"`` → ``Bot``,
``merge_commit_sha`` → ``mergeCommit.oid``, ``changed_files`` → ``changedFiles``.

``rateLimit.cost`` follows GitHub's documented formula: the requests each connection may need
(its ``first`` times the nodes of the connections around it), summed, divided by 100, rounded,
at least 1.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_REL = Path("github") / "graphql" / "schema.graphql"


def schema_path() -> Path | None:
    env = os.environ.get("SHIPREADY_CORPUS")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
    path = root / SCHEMA_REL
    return path if path.exists() else None


@lru_cache(maxsize=1)
def github_schema():
    """GitHub's schema, built once per process (about a second). The published SDL defines a
    few fields twice, so it is built without re-checking the SDL itself."""
    from graphql import build_schema

    path = schema_path()
    if path is None:
        return None
    return build_schema(path.read_text(encoding="utf-8"), assume_valid_sdl=True)


SUBSET_PATH = Path(__file__).resolve().parent / "github_graphql_subset.graphql"


@lru_cache(maxsize=1)
def subset_schema():
    """The part of GitHub's schema the connector's queries touch (tests/github_graphql_subset
    .graphql), enough to execute them; always present, built in milliseconds."""
    from graphql import build_schema

    return build_schema(SUBSET_PATH.read_text(encoding="utf-8"))


def validation_errors(query: str, schema: Any = None) -> list[str]:
    """``schema``'s complaints about ``query`` (empty when it is valid); by default GitHub's
    full public schema, which needs the corpus."""
    from graphql import parse, validate

    schema = schema if schema is not None else github_schema()
    if schema is None:
        raise RuntimeError("GitHub's GraphQL schema is not in the corpus")
    try:
        document = parse(query)
    except Exception as exc:  # graphql.GraphQLError
        return [str(exc)]
    return [e.message for e in validate(schema, document)]


def query_cost(query: str, variables: dict | None = None) -> int:
    """GitHub's documented rate-limit score of ``query``."""
    from graphql import parse
    from graphql.language import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, \
        IntValueNode, VariableNode, OperationDefinitionNode

    document = parse(query)
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    total = 0

    def first_of(field: FieldNode) -> int | None:
        for arg in field.arguments or ():
            if arg.name.value in ("first", "last"):
                if isinstance(arg.value, IntValueNode):
                    return int(arg.value.value)
                if isinstance(arg.value, VariableNode):
                    return int((variables or {}).get(arg.value.name.value) or 100)
        return None

    def walk(selections, parents: int) -> None:
        nonlocal total
        for sel in selections:
            if isinstance(sel, FragmentSpreadNode):
                walk(fragments[sel.name.value].selection_set.selections, parents)
                continue
            if not isinstance(sel, FieldNode) or sel.selection_set is None:
                continue
            n = first_of(sel)
            if n is not None:
                total += parents
                walk(sel.selection_set.selections, parents * n)
            else:
                walk(sel.selection_set.selections, parents)

    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode):
            walk(d.selection_set.selections, 1)
    return max(1, round(total / 100))


# A size the fake's data does not hold (the corpus has list items only, without sizes).
# GitHub always has one, and the schema says so (``Int!``); the fake answers null for it,
# as a REST detail without the field would have said nothing. The marker passes the
# executor's non-null check and is replaced by null in the answer.
UNKNOWN = -(2**31) + 7


def _unknown_to_null(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unknown_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unknown_to_null(v) for v in value]
    return None if value == UNKNOWN and not isinstance(value, bool) else value


def _actor(user: dict | None) -> dict | None:
    if not user:
        return None
    bot = user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")
    login = str(user.get("login", ""))
    # GraphQL names a bot by its app's slug, without REST's "[bot]" suffix.
    return {"__typename": "Bot" if bot else "User",
            "login": login.removesuffix("[bot]") if bot else login}


def _connection(items: list[dict], first: int = 100, after: str | None = None) -> dict:
    start = int(after) if after else 0
    chunk = items[start:start + first]
    end = start + len(chunk)
    return {"totalCount": len(items), "nodes": chunk,
            "pageInfo": {"hasNextPage": end < len(items), "endCursor": str(end) if chunk else None,
                         "hasPreviousPage": start > 0, "startCursor": str(start)}}


def pull_node(pr: dict, commits: list[dict], reviews: list[dict]) -> dict:
    """One ``PullRequest`` as GraphQL gives it, from the REST payloads the fake holds."""
    commit_nodes = [{"commit": {"authoredDate": ((c.get("commit") or {}).get("author") or {})
                                .get("date"), "oid": c.get("sha")}} for c in commits]
    review_nodes = [{"author": _actor(r.get("user")), "state": r.get("state"),
                     "submittedAt": r.get("submitted_at")} for r in reviews]
    sha = pr.get("merge_commit_sha") if pr.get("merged_at") else None

    def size(key: str) -> int:
        value = pr.get(key)
        return UNKNOWN if value is None else value

    return {
        "number": pr["number"], "additions": size("additions"),
        "deletions": size("deletions"), "changedFiles": size("changed_files"),
        "author": _actor(pr.get("user")), "mergeCommit": {"oid": sha} if sha else None,
        "commits": lambda _info, first=100, after=None, **_: _connection(commit_nodes, first,
                                                                         after),
        "reviews": lambda _info, first=100, after=None, **_: _connection(review_nodes, first,
                                                                         after),
    }


def execute(query: str, variables: dict, repositories: dict[str, Any], *,
            remaining: int = 4999, reset_at: str = "2033-05-18T03:33:20Z") -> dict:
    """The answer GitHub would give: ``repositories`` maps OWNER/NAME to a fake repository
    (tests/github_server.py FakeGitHub: ``pull_node(number)``, and its ``issues``,
    ``pulls``, ``milestones``, ``releases``, ``deployments`` lists for the counts)."""
    from graphql import graphql_sync

    full = github_schema()
    # GitHub's own check first, when the corpus has its schema; then the subset's, which
    # executes the query (without the corpus it is the only check there is).
    errors = validation_errors(query, full) if full is not None else []
    if errors:
        return {"errors": [{"message": m} for m in errors]}
    errors = validation_errors(query, subset_schema())
    if errors:
        if full is not None:  # valid for GitHub: the subset lacks something the query uses
            errors = [f"{m} (add it to tests/github_graphql_subset.graphql from GitHub's "
                      "schema)" for m in errors]
        return {"errors": [{"message": m} for m in errors]}
    cost = query_cost(query, variables)
    not_found: list[dict] = []
    by_lower = {k.lower(): v for k, v in repositories.items()}

    def count(items: list) -> Any:
        return lambda _info, **_: {"totalCount": len(items)}

    def repository(info, owner, name, **_):
        fake = by_lower.get(f"{owner}/{name}".lower())
        if fake is None:
            not_found.append({"type": "NOT_FOUND", "path": [info.path.key],
                              "message": f"Could not resolve to a Repository with the name "
                                         f"'{owner}/{name}'."})
            return None

        def pull_request(info, number, **_):
            node = fake.pull_node(number)
            if node is None:
                not_found.append({"type": "NOT_FOUND", "path": ["repository", info.path.key],
                                  "message": "Could not resolve to a PullRequest with the "
                                             f"number of {number}."})
            return node

        return {"pullRequest": pull_request,
                "issues": count([i for i in fake.issues if "pull_request" not in i]),
                "pullRequests": count(fake.pulls), "milestones": count(fake.milestones),
                "releases": count(fake.releases), "deployments": count(fake.deployments)}

    def search(_info, query, **_):
        # the one search the connector makes: "repo:O/N is:pr is:merged merged:>=DAY"
        words = dict(w.split(":", 1) for w in query.split() if ":" in w)
        fake = by_lower.get(words.get("repo", "").lower())
        day = words.get("merged", ">=").removeprefix(">=")
        merged = [p for p in (fake.pulls if fake else [])
                  if p.get("merged_at") and p["merged_at"][:10] >= day]
        return {"issueCount": len(merged)}

    root = {"repository": repository, "search": search,
            "rateLimit": lambda _info, **_: {"cost": cost, "remaining": remaining - cost,
                                             "resetAt": reset_at, "limit": 5000,
                                             "used": 5000 - remaining + cost, "nodeCount": 0}}
    result = graphql_sync(subset_schema(), query, root_value=root, variable_values=variables)
    out: dict = {"data": _unknown_to_null(result.data)}
    errs = not_found + [{"message": e.message} for e in result.errors or []]
    if errs:
        out["errors"] = errs
    return out


def subset_disagreements(full: Any, subset: Any) -> list[str]:
    """Where ``subset`` says something ``full`` does not: a type, field, argument, interface,
    union member or enum value ``full`` lacks, a different kind or type (``String!`` is not
    ``String``), a different default, or an argument ``full`` requires that the subset leaves
    out. Empty when every declaration of ``subset`` is ``full``'s."""
    from graphql import (GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType,
                         GraphQLObjectType, GraphQLUnionType, is_required_argument)

    out: list[str] = []
    roots = (("query", full.query_type, subset.query_type),
             ("mutation", full.mutation_type, subset.mutation_type),
             ("subscription", full.subscription_type, subset.subscription_type))
    for op, f_root, s_root in roots:
        if s_root is not None and (f_root is None or f_root.name != s_root.name):
            out.append(f"{op} root {s_root.name}: GitHub's is "
                       f"{f_root.name if f_root else 'absent'}")
    for name, mine in subset.type_map.items():
        if name.startswith("__"):
            continue
        theirs = full.type_map.get(name)
        if theirs is None:
            out.append(f"type {name}: not in GitHub's schema")
            continue
        if type(theirs) is not type(mine):
            out.append(f"type {name}: a {type(mine).__name__}, GitHub's is a "
                       f"{type(theirs).__name__}")
            continue
        if isinstance(mine, (GraphQLObjectType, GraphQLInterfaceType)):
            theirs_ifaces = {i.name for i in theirs.interfaces}
            out += [f"type {name}: implements {i.name}, GitHub's does not"
                    for i in mine.interfaces if i.name not in theirs_ifaces]
        if isinstance(mine, (GraphQLObjectType, GraphQLInterfaceType,
                             GraphQLInputObjectType)):
            for fname, field in mine.fields.items():
                other = theirs.fields.get(fname)
                where = f"{name}.{fname}"
                if other is None:
                    out.append(f"{where}: not in GitHub's schema")
                    continue
                if str(field.type) != str(other.type):
                    out.append(f"{where}: {field.type}, GitHub's is {other.type}")
                if isinstance(mine, GraphQLInputObjectType):
                    continue
                for aname, arg in field.args.items():
                    o_arg = other.args.get(aname)
                    if o_arg is None:
                        out.append(f"{where}({aname}:): not in GitHub's schema")
                    elif str(arg.type) != str(o_arg.type):
                        out.append(f"{where}({aname}:): {arg.type}, GitHub's is {o_arg.type}")
                    elif arg.default_value != o_arg.default_value:
                        out.append(f"{where}({aname}:): default {arg.default_value!r}, "
                                   f"GitHub's is {o_arg.default_value!r}")
                out += [f"{where}({aname}:): required by GitHub, missing here"
                        for aname, o_arg in other.args.items()
                        if is_required_argument(o_arg) and aname not in field.args]
        if isinstance(mine, GraphQLUnionType):
            theirs_members = {t.name for t in theirs.types}
            out += [f"union {name}: member {t.name} is not GitHub's"
                    for t in mine.types if t.name not in theirs_members]
        if isinstance(mine, GraphQLEnumType):
            out += [f"enum {name}: value {v} is not GitHub's"
                    for v in mine.values if v not in theirs.values]
    return out
