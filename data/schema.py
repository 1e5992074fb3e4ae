"""Domain tables (SQLAlchemy 2.0 Core).

Table names and the columns docs/data-model.md marks as contract (`id`, `source`, `project`, `key`,
`type`, `status_category`, `severity`, `story_points`, `created_at`, `resolved_at`,
`updated_at`, `conclusion`, `run_id`, `name`, `status`, `environment`) are a public interface:
users query them directly, so they change only with a migration in ``data/store.py``.

Conventions:
- ids are ``"<source>:<kind>:<natural key>"`` strings, e.g. ``jira:issue:PAY-123``;
- every timestamp is timezone-aware UTC (:class:`UTCDateTime` normalises on the way in and out,
  because SQLite keeps no zone and PostgreSQL returns the session's zone);
- durations are seconds (``*_s``), story points are floats, lists are JSON arrays;
- normalised values sit beside the original (``status_category`` beside ``status``).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

from data.text import test_key

SCHEMA_VERSION = 9


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always returned timezone-aware (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        # SQLite stores text; a fixed naive-UTC form keeps lexical order == time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


metadata = MetaData()

ID = String(255)


def _id() -> Column:
    return Column("id", ID, primary_key=True)


schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", UTCDateTime, nullable=False),
)

# --- raw layer -------------------------------------------------------------------------------
raw_records = Table(
    "raw_records",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("resource", String(64), primary_key=True),
    Column("external_id", String(255), primary_key=True),
    Column("scope", String(255)),  # repo, project, board or job the record came from
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("payload", JSON, nullable=False),
)

# --- work -----------------------------------------------------------------------------------
work_items = Table(
    "work_items",
    metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("project", String(255), nullable=False),  # Jira project key or GitHub OWNER/NAME
    Column("key", String(255), nullable=False),  # PAY-123 or acme/web#45
    Column("title", Text),
    Column("type", String(16), nullable=False),  # story/task/bug/incident/epic/other
    Column("type_name", String(128)),  # original issue type or label
    Column("status", String(128)),  # original status name
    Column("status_category", String(16), nullable=False),  # todo/in_progress/done
    Column("resolution", String(128)),  # original: "Won't Do", "not_planned", "completed"
    Column("resolution_category", String(16)),  # delivered/not_delivered, null while open
    Column("priority", String(64)),
    Column("severity", String(16)),  # critical/high/medium/low or null
    Column("found_in", String(32)),  # environment a bug was found in (production/...) or null
    Column("story_points", Float),
    Column("assignee", String(255)),
    Column("labels", JSON),
    Column("components", JSON),
    Column("parent_key", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    Column("url", Text),
    Index("ix_work_items_project_type_status", "project", "type", "status_category"),
    Index("ix_work_items_source", "source"),
    Index("ix_work_items_created", "created_at"),
    Index("ix_work_items_resolved", "resolved_at"),
)

work_item_changes = Table(
    "work_item_changes",
    metadata,
    _id(),  # "<item id>:<history id>:<n>" — deterministic so re-syncs upsert
    Column("item_id", ID, ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("field", String(64), nullable=False),  # status/sprint/story_points/fix_version/...
    Column("from_value", Text),  # ids where the source has them (status id, sprint ids)
    Column("to_value", Text),
    Column("from_string", Text),  # display strings
    Column("to_string", Text),
    Column("author", String(255)),
    Index("ix_changes_item_at", "item_id", "at"),
    Index("ix_changes_field_at", "field", "at"),
)

# Domain history, derived from the raw change rows above by data/domain.py (connectors after
# each write, migration 5, `python -m connectors remap`): metrics read these, never the source's
# own encodings. ``field`` is severity here; from/to_value are domain values
# (critical/high/medium/low), from/to_string the source's value that decided them.
membership_changes = Table(
    "membership_changes",
    metadata,
    _id(),  # "<raw change id>:<scope id>" — re-derived rows upsert
    Column("item_id", ID, ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False),
    Column("scope_type", String(16), nullable=False),  # sprint/release
    Column("scope_id", ID, nullable=False),  # sprints.id / releases.id
    Column("change", String(8), nullable=False),  # added/removed
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(32), nullable=False),
    Column("original", Text),  # the source's value (sprint id, version id, milestone title)
    Index("ix_membership_scope_at", "scope_type", "scope_id", "at"),
    Index("ix_membership_item", "item_id", "at"),
)

# What a project key names: a tracker project or a code repository (GitLab paths have several
# slashes, so the key's shape cannot tell). Upserted by each connector for what it syncs.
scopes = Table(
    "scopes",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("kind", String(16), nullable=False),  # project/repository
    Column("source", String(32), nullable=False),
    Column("name", String(255)),
    Column("external_id", Integer),
)

sprints = Table(
    "sprints",
    metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("project", String(255)),
    Column("board", String(255)),
    Column("name", String(255), nullable=False),
    Column("state", String(16), nullable=False),  # future/active/closed
    Column("goal", Text),
    Column("start_at", UTCDateTime),
    Column("end_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("url", Text),
    Index("ix_sprints_project_start", "project", "start_at"),
)

sprint_items = Table(
    "sprint_items",
    metadata,
    Column("sprint_id", ID, ForeignKey("sprints.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", ID, ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(32), nullable=False),
    Index("ix_sprint_items_item", "item_id"),
)

releases = Table(
    "releases",
    metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("project", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text),
    Column("target_date", UTCDateTime),
    Column("released_at", UTCDateTime),
    Column("state", String(16), nullable=False),  # unreleased/released/archived
    Column("prerelease", Boolean),
    Column("url", Text),
    Index("ix_releases_project_name", "project", "name"),
)

release_items = Table(
    "release_items",
    metadata,
    Column("release_id", ID, ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", ID, ForeignKey("work_items.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(32), nullable=False),
    Index("ix_release_items_item", "item_id"),
)

scope_snapshots = Table(
    "scope_snapshots",
    metadata,
    _id(),  # "<scope id>:<item id>:<taken_at iso>"
    Column("source", String(32), nullable=False),
    Column("scope_type", String(16), nullable=False),  # sprint/release
    Column("scope_id", ID, nullable=False),
    Column("item_id", ID, nullable=False),
    Column("estimate", Float),
    Column("status_category", String(16)),
    Column("taken_at", UTCDateTime, nullable=False),
    Index("ix_scope_snapshots_scope", "scope_type", "scope_id", "taken_at"),
)

# --- code and CI ------------------------------------------------------------------------------
pull_requests = Table(
    "pull_requests",
    metadata,
    _id(),  # github:pr:acme/web#12
    Column("source", String(32), nullable=False),
    Column("repo", String(255), nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", Text),
    Column("author", String(255)),
    Column("state", String(16)),  # open/closed/merged
    Column("base_branch", String(255)),
    Column("head_branch", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("first_commit_at", UTCDateTime),
    Column("first_review_at", UTCDateTime),
    Column("review_count", Integer),
    Column("merged_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    Column("merge_sha", String(64)),
    Column("additions", Integer),
    Column("deletions", Integer),
    Column("changed_files", Integer),
    Column("linked_items", JSON),  # work item ids this PR closes or names
    Column("url", Text),
    Index("ix_pull_requests_repo_merged", "repo", "merged_at"),
    Index("ix_pull_requests_merge_sha", "merge_sha"),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    _id(),  # github:run:acme/web:123456, jenkins:build:app/main#88, junit:run:<hash>
    Column("source", String(32), nullable=False),
    Column("pipeline", String(255), nullable=False),  # workflow / job / --pipeline name
    Column("repo", String(255)),
    Column("project", String(255)),
    Column("number", Integer),
    Column("branch", String(255)),
    Column("sha", String(64)),
    Column("event", String(64)),
    Column("status", String(32)),  # queued/in_progress/completed
    Column("conclusion", String(32)),  # GitHub's conclusions, unknown, or null (data/mapping.py)
    Column("attempt", Integer),
    Column("created_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("duration_s", Float),
    Column("url", Text),
    Index("ix_pipeline_runs_pipeline_branch", "pipeline", "branch", "started_at"),
    Index("ix_pipeline_runs_sha", "sha"),
)

def _test_key_default(context) -> str:
    params = context.get_current_parameters()
    return test_key(params.get("classname"), params.get("name"))


test_results = Table(
    "test_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ID, ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False),
    Column("suite", Text),
    Column("classname", Text),
    Column("name", Text, nullable=False),  # suite/classname/name capped (data.text.NAME)
    # The test's identity across runs: data.text.test_key(classname, name) of the FULL texts,
    # so capping never merges two tests. Indexed instead of the names (a btree entry on
    # PostgreSQL holds at most ~2.7 KB). Writers that cap names must pass it; the default
    # computes it from the values inserted.
    Column("test_key", String(32), default=_test_key_default),
    Column("status", String(16), nullable=False),  # passed/failed/error/skipped
    Column("duration_s", Float),
    Column("message", Text),  # capped at data.text.MESSAGE characters
    Column("flaky", Boolean, nullable=False, default=False),  # surefire flakyFailure etc.
    Column("file", Text),  # report file it came from
    Index("ix_test_results_run", "run_id", "status"),
    Index("ix_test_results_key", "test_key"),
)

# --- delivery ---------------------------------------------------------------------------------
deployments = Table(
    "deployments",
    metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("service", String(255)),
    Column("repo", String(255)),
    Column("environment", String(32), nullable=False),  # production/staging/other
    Column("environment_name", String(255)),  # as the source named it
    Column("sha", String(64)),
    Column("ref", String(255)),
    # success/failure/error, cancelled/skipped/inactive (not deployed), queued/in_progress,
    # unknown — see data/mapping.py
    Column("status", String(32), nullable=False),
    Column("created_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("is_rollback", Boolean),
    Column("url", Text),
    Index("ix_deployments_env_finished", "environment", "finished_at"),
    Index("ix_deployments_service", "service", "environment"),
    Index("ix_deployments_sha", "sha"),
)

deployment_commits = Table(
    "deployment_commits",
    metadata,
    Column("deployment_id", ID, ForeignKey("deployments.id", ondelete="CASCADE"),
           primary_key=True),
    Column("sha", String(64), primary_key=True),
    Column("source", String(32), nullable=False),
    Column("committed_at", UTCDateTime),
    Index("ix_deployment_commits_sha", "sha"),
)

incidents = Table(
    "incidents",
    metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("service", String(255)),
    Column("title", Text),
    Column("severity", String(16)),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("deployment_id", ID),  # caused-by: named by the incident, else attributed
    Column("work_item_id", ID),
    Column("url", Text),
    Index("ix_incidents_service_opened", "service", "opened_at"),
)

# --- sync bookkeeping -------------------------------------------------------------------------
sync_state = Table(
    "sync_state",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("scope", String(255), primary_key=True),
    Column("resource", String(64), primary_key=True),
    Column("cursor", Text),  # e.g. the last updated_at covered, ISO-8601
    Column("etag", Text),
    Column("pending", JSON),  # ids still in progress at the last sync, fetched again
    Column("updated_at", UTCDateTime),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("scope", String(255)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(16), nullable=False),  # running/success/failed
    Column("items", JSON),  # {"issues": 120, "pulls": 30, ...} rows written per resource
    Column("requests", Integer, nullable=False, default=0),
    Column("not_modified", Integer, nullable=False, default=0),
    Column("duration_s", Float),
    Column("error", Text),  # one line, never a token
    # Renewed while the run is alive: a `running` row whose heartbeat stopped was killed.
    Column("heartbeat_at", UTCDateTime),
    Index("ix_sync_runs_source_started", "source", "started_at"),
)

# --- readiness --------------------------------------------------------------------------------
gate_waivers = Table(
    "gate_waivers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", ID, nullable=False),
    Column("gate", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("waived_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Index("ix_gate_waivers_release", "release_id", "gate"),
)

# One row per source while a sync of it runs (connectors/frame/lease.py): whoever holds the
# row syncs; the next one skips that source. ``token`` is the holder's own random id (a
# takeover and a release touch only their own row); a row whose ``heartbeat_at`` stopped
# belongs to a killed process and is taken over.
source_leases = Table(
    "source_leases",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("holder", String(255), nullable=False),  # "scheduler pid 412 on web-1"
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)

# One row (id 1): ``version`` grows with every write a reader caches over (each sync page,
# demo load, waiver, snapshot), so a cache keyed on it sees another process's writes.
data_version = Table(
    "data_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime),
)

readiness_snapshots = Table(
    "readiness_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", ID, nullable=False),
    Column("evaluated_at", UTCDateTime, nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("verdict", String(16), nullable=False),  # GO/AT_RISK/NO_GO
    Column("score", Float, nullable=False),
    Column("payload", JSON, nullable=False),  # the full evaluation, gates and evidence
    Index("ix_readiness_snapshots_release", "release_id", "evaluated_at"),
)

# --- notifications (schema migration 8; README "Notifications") ------------------------------
# The outbox: one row per message, written and committed before the message goes, so a message
# is sent at most once. `key` says what the message is about (its event), unique per channel.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),  # e.g. digest:2026-11-30:slack
    Column("kind", String(16), nullable=False),  # change/digest/one_off
    Column("channel", String(16), nullable=False),  # slack/teams/json
    Column("release_id", ID),  # null for a digest
    Column("verdict", String(16)),
    Column("subject", String(255), nullable=False),  # one line: what the message is about
    Column("status", String(16), nullable=False),  # sending/sent/failed/unsent
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("http_status", Integer),
    Column("error", Text),  # one line, redacted: never the webhook URL
    Column("payload", JSON, nullable=False),  # the body as posted (it holds no secret)
    Index("ix_notifications_status", "status", "created_at"),
)

# The verdict the notifier last saw for each release: a change is a new verdict against it.
notify_verdicts = Table(
    "notify_verdicts",
    metadata,
    Column("release_id", ID, primary_key=True),
    Column("verdict", String(16), nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)



# --- derived views (schema migration 9; docs/architecture.md "Derived views") ----------------
# What a page's default view computes (DORA keys and their monthly series, the test KPIs and
# lists, velocity), stored once per data version so a first render reads it instead of
# recomputing it. Not data: nothing here is sourced, and writing a row does not advance
# data_version. A row is used only for the data version, configuration and code it was
# computed with (`params_hash` covers the last two) and while it is younger than
# metrics.derived.MAX_AGE.
derived_views = Table(
    "derived_views",
    metadata,
    Column("name", String(100), primary_key=True),  # e.g. delivery_view
    Column("params_hash", String(64), primary_key=True),  # sha256 of the canonical parameters
    Column("data_version", Integer, nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    Column("payload", Text, nullable=False),  # metrics/codec.py JSON
)


def sourced_tables_children_first() -> list[Table]:
    """Tables with a `source` column, children before parents (safe order for deletes)."""
    return [t for t in reversed(metadata.sorted_tables) if "source" in t.c]
