"""Domain history (data/domain.py): severity changes and membership changes derived from each
source's own change rows, one severity rule order, and `python -m connectors remap`."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from connectors.__main__ import main
from data import domain, schema
from data.config import parse_settings
from data.mapping import mapping_rules
from data.store import get_engine
from metrics import quality
from metrics_rows import change, item, load, release, utc

RULES = mapping_rules(None)


def _c(cid, field, frm, to, at, item_id="github:issue:acme/web#1", source="github"):
    return {"id": cid, "item_id": item_id, "source": source, "at": at, "field": field,
            "from_value": frm, "to_value": to, "from_string": frm, "to_string": to}


def test_one_severity_rule_order_priority_then_labels():
    # A mapped priority decides; an unmapped or missing one leaves it to the labels, the most
    # severe label winning (any case).
    assert RULES.severity("Highest", ["sev4"]) == "critical"
    assert RULES.severity("Whatever", ["sev4", "SEV2"]) == "high"
    assert RULES.severity(None, ["bug"]) is None
    custom = mapping_rules(parse_settings({"mapping": {
        "severity_by_priority": {"P-A": "critical"}, "severity_labels": {"ouch": "low"}}},
        None).mapping)
    assert custom.severity("p-a", []) == "critical" and custom.severity(None, ["OUCH"]) == "low"


def test_severity_rows_from_single_label_events():
    item_row = {"id": "github:issue:acme/web#1", "source": "github", "priority": None,
                "labels": ["bug", "sev3"]}
    signals = [_c("e1", "labels", None, "sev1", utc(2026, 3, 2)),
               _c("e2", "labels", None, "bug", utc(2026, 3, 3)),   # no severity change
               _c("e3", "labels", "sev1", None, utc(2026, 3, 6)),
               _c("e4", "labels", None, "sev3", utc(2026, 3, 7))]
    rows = domain.severity_rows(item_row, signals, RULES, label_events=True)
    # Undone newest first: before e4 {bug}; before e3 {bug, sev1}; before e2 {sev1};
    # before e1 {} → None, critical, critical, None, medium.
    assert [(r["id"], r["at"], r["from_value"], r["to_value"], r["from_string"],
             r["to_string"]) for r in rows] == [
        ("e1:severity", utc(2026, 3, 2), None, "critical", None, "sev1"),
        ("e3:severity", utc(2026, 3, 6), "critical", None, "sev1", None),
        ("e4:severity", utc(2026, 3, 7), None, "medium", None, "sev3")]


def test_severity_rows_from_priority_with_whole_set_labels_ignored():
    item_row = {"id": "jira:issue:PAY-1", "source": "jira", "priority": "Low",
                "labels": ["sev1"]}
    signals = [_c("h1", "priority", "Medium", "Highest", utc(2026, 3, 2), "jira:issue:PAY-1"),
               _c("h2", "labels", "", "sev1", utc(2026, 3, 3), "jira:issue:PAY-1"),
               _c("h3", "priority", "Highest", "Low", utc(2026, 3, 6), "jira:issue:PAY-1")]
    rows = domain.severity_rows(item_row, signals, RULES, label_events=False)
    assert [(r["from_value"], r["to_value"], r["to_string"]) for r in rows] == [
        ("medium", "critical", "Highest"), ("critical", "low", "Low")]


def test_membership_rows_name_sprints_and_releases_by_id():
    releases = domain.ReleaseIndex([("jira:version:10100", "2.4"),
                                    ("github:milestone:acme/web#3", "2.4"),
                                    ("github:milestone:acme/api#1", "2.4")])
    at = utc(2026, 3, 2)
    sprint = _c("h1:0", "Sprint", "7", "7, 9", at, "jira:issue:PAY-1", "jira")
    assert [(r["scope_type"], r["scope_id"], r["change"], r["original"])
            for r in domain.membership_rows(sprint, releases)] == [
        ("sprint", "jira:sprint:9", "added", "7, 9")]
    demo = _c("d1", "sprint", "demo:sprint:PAY:12", "", at, "demo:issue:PAY-1", "demo")
    assert [(r["scope_id"], r["change"]) for r in domain.membership_rows(demo, releases)] == [
        ("demo:sprint:PAY:12", "removed")]
    # Jira names the version by id (its name "2.4" is shared by other projects' versions).
    fix = _c("h2:0", "fix_version", None, "10100", at, "jira:issue:PAY-1", "jira")
    assert [(r["scope_id"], r["change"]) for r in domain.membership_rows(fix, releases)] == [
        ("jira:version:10100", "added")]
    # GitHub names a milestone by title: only the item's own repository's.
    ms = _c("e9", "fix_version", "2.4", None, at)
    assert [(r["scope_id"], r["change"]) for r in domain.membership_rows(ms, releases)] == [
        ("github:milestone:acme/web#3", "removed")]
    assert domain.membership_rows(_c("x", "status", "a", "b", at), releases) == []


def _gh_bug(engine):
    load(engine, work_items=[
        {**item("acme/web#1", project="acme/web", type="bug", created=utc(2026, 3, 1)),
         "id": "github:issue:acme/web#1", "source": "github", "labels": ["blocker"]}],
        work_item_changes=[
        {**change("x", utc(2026, 3, 5), "labels", None, "blocker"),
         "item_id": "github:issue:acme/web#1", "source": "github"}])


def test_remap_applies_a_changed_mapping_without_a_resync(engine):
    _gh_bug(engine)
    scope = type("S", (), {"projects": ("acme/web",)})()
    with engine.connect() as conn:  # "blocker" means nothing by default
        assert quality.open_bugs_by_severity(conn, scope, utc(2026, 3, 8))["critical"] == 0
    settings = parse_settings({"mapping": {"severity_labels": {"blocker": "critical"}}}, None)
    with engine.begin() as conn:
        assert domain.remap(conn, mapping_rules(settings.mapping)) == {"items": 1, "history": 1}
    with engine.connect() as conn:
        assert conn.execute(select(schema.work_items.c.severity)).scalar() == "critical"
        # labelled on 03-05: unset before, critical after
        assert quality.open_bugs_by_severity(conn, scope, utc(2026, 3, 4))["unset"] == 1
        assert quality.open_bugs_by_severity(conn, scope, utc(2026, 3, 8))["critical"] == 1


def test_remap_command(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = get_engine(url)
    _gh_bug(engine)
    engine.dispose()
    cfg = tmp_path / "readiness.toml"
    cfg.write_text('[mapping.severity_labels]\nblocker = "high"\n')
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["remap", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out == "remapped: 1 severities changed, 1 history rows derived\n"
    engine = get_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(schema.work_items.c.severity)).scalar() == "high"
    engine.dispose()


def test_scope_kind_is_a_row_not_a_slash_count(engine):
    """A GitLab path has several slashes; what makes a project key a repository is its scope
    row (the readiness context then looks at that repository's runs)."""
    from metrics.readiness import release_context

    load(engine, releases=[release("r1", "1.0", project="group/sub/app")])
    settings = parse_settings({}, None)
    with engine.begin() as conn:
        assert release_context(conn, settings, "t:release:r1",
                               datetime(2026, 3, 1, tzinfo=timezone.utc)).repos == ()
        domain.upsert_scopes(conn, [{"key": "group/sub/app", "kind": "repository",
                                     "source": "gitlab"}])
        assert release_context(conn, settings, "t:release:r1",
                               datetime(2026, 3, 1, tzinfo=timezone.utc)).repos == (
            "group/sub/app",)


def test_one_type_rule_order_for_github_and_jira():
    """A name configured as both incident and bug is an incident from either source (Jira's
    own order used to say bug, GitHub's incident)."""
    from connectors.github.normalize import classify_type
    from connectors.jira.normalize import Mapping, work_type

    settings = parse_settings({"mapping": {"bug_types": ["Bug", "Problem"],
                                           "incident_types": ["Incident", "Problem"]}}, None)
    assert classify_type([], "Problem", settings.mapping) == ("incident", "Problem")
    assert work_type({"name": "problem"}, Mapping.from_settings(settings)) == "incident"
    assert classify_type(["bug", "incident"], None, settings.mapping) == ("incident",
                                                                         "incident")


def test_type_rows_carry_domain_types_with_the_source_value_beside():
    at1, at2 = utc(2026, 3, 2), utc(2026, 3, 4)
    # Jira types by the issue type alone: an "Initiative" is an epic by its hierarchy level,
    # which only the stored type knows; its "bug" label types nothing.
    jira = {"id": "jira:issue:X-1", "source": "jira", "type": "epic",
            "type_name": "Initiative", "labels": ["bug"]}
    retyped = _c("c1", "type", "Story", "Initiative", at1, item_id="jira:issue:X-1",
                 source="jira")
    assert [(r["field"], r["from_value"], r["to_value"], r["from_string"], r["to_string"])
            for r in domain.type_rows(jira, [retyped], RULES, label_events=False,
                                      by_labels=False)] == [
        ("work_type", "story", "epic", "Story", "Initiative")]
    # GitHub: labelled incident on 03-04 (an incident before a bug), after "bug" on 03-02;
    # the stored type_name is the deciding label, so no issue type is known behind it.
    gh = {"id": "github:issue:acme/web#1", "source": "github", "type": "incident",
          "type_name": "incident", "labels": ["bug", "incident"]}
    labelled = [_c("e1", "labels", None, "bug", at1), _c("e2", "labels", None, "incident", at2)]
    assert [(r["at"], r["from_value"], r["to_value"], r["to_string"])
            for r in domain.type_rows(gh, labelled, RULES, label_events=True)] == [
        (at1, "other", "bug", "bug"), (at2, "bug", "incident", "incident")]
    # a label that types nothing: no row
    assert domain.type_rows(gh | {"labels": ["bug", "incident", "ui"]},
                            [_c("e3", "labels", None, "ui", at2)], RULES,
                            label_events=True) == []
