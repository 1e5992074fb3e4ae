"""Notification bodies checked against what Slack and Teams document: Block Kit blocks parsed
and validated by Slack's own SDK models (slack_sdk: header text ≤ 150 characters, section
text ≤ 3000, …) plus the 50-block message limit; the Adaptive Card validated against the
published card schema of its version and kept under Teams' 28 KB card size. Nothing is sent.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import adaptive_cards
import pytest
from jsonschema.validators import Draft6Validator
from slack_sdk.models.blocks import Block

from data.config import parse_settings
from metrics import gates as G
from metrics import notify_payloads as P
from metrics.readiness import Evaluation, GateResult
from metrics_rows import utc

NOW = utc(2026, 11, 30, 9, 0)
NASTY = "<!channel> & *bold* [x](javascript:alert(1)) | <https://evil.example|click>"


def evaluation(name: str = "2.4", project: str = "PAY", *, status: str = G.FAIL,
               days: int = 3) -> Evaluation:
    gates = G.gates_for(parse_settings({}, None), project, name)
    results = [GateResult(g, status, 1.0 if status != G.NO_DATA else None, []) for g in gates]
    return Evaluation(release_id=f"t:release:{project}:{name}", release=name, project=project,
                      target_date=NOW + timedelta(days=days), released_at=None, as_of=NOW,
                      evaluated_at=NOW, verdict=G.verdict((r.status, r.gate.blocking)
                                                          for r in results),
                      score=0.0, gates=results)


def message(kind: str, evaluations: list, **kw) -> P.Message:
    links = {ev.release_id: P.readiness_link("https://ship.example", ev.project, ev.release)
             for ev in evaluations}
    return P.Message(kind, evaluations, NOW, links=links, **kw)


def slack_ok(body: dict) -> None:
    assert 0 < len(body["blocks"]) <= P.SLACK_MAX_BLOCKS
    assert body["text"]
    for raw in body["blocks"]:
        block = Block.parse(raw)
        assert block is not None, raw["type"]
        block.validate_json()  # raises SlackObjectFormationError past a documented limit
        for el in raw.get("elements", []):
            if el["type"] == "button":
                assert len(el["text"]["text"]) <= P.SLACK_BUTTON_CHARS
                assert len(el["url"]) <= P.SLACK_URL_CHARS


CARD_SCHEMA = json.loads((Path(adaptive_cards.__file__).parent / "schemas"
                          / f"schema-{P.CARD_VERSION}.json").read_text())


def teams_ok(body: dict) -> None:
    assert body["type"] == "message"
    [att] = body["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == P.CARD_VERSION
    errors = [e.message[:200] for e in Draft6Validator(CARD_SCHEMA).iter_errors(card)]
    assert errors == []
    assert len(json.dumps(body).encode()) < 28 * 1024


@pytest.mark.parametrize("kind", ["change", "one_off"])
def test_one_release_bodies_meet_the_documented_limits(kind):
    msg = message(kind, [evaluation()], previous=G.GO if kind == "change" else None)
    slack_ok(P.slack_payload(msg))
    teams_ok(P.teams_payload(msg))


def test_a_digest_of_sixty_releases_stays_within_the_limits():
    evs = [evaluation(f"{i}.0", days=i % 7) for i in range(60)]
    msg = message("digest", evs, digest_days=7)
    slack = P.slack_payload(msg)
    slack_ok(slack)
    assert slack["blocks"][-2]["text"]["text"] == "… and 14 more"  # 50 - header, more, context
    teams = P.teams_payload(msg)
    teams_ok(teams)
    assert teams["attachments"][0]["content"]["body"][-2]["text"] == "… and 40 more"


def test_long_and_hostile_names_are_clipped_and_inert():
    ev = evaluation(name=NASTY * 5, project="PAY")
    msg = message("change", [ev], previous=G.GO)
    slack = P.slack_payload(msg)
    slack_ok(slack)
    header = slack["blocks"][0]["text"]["text"]
    assert len(header) == P.SLACK_HEADER_CHARS and header.endswith("…")
    section = slack["blocks"][1]["text"]["text"]
    assert "<!channel>" not in section and "&lt;!channel&gt;" in section
    assert "<https://evil.example" not in section
    assert "<!channel>" not in slack["text"]
    # the one link is ours, its label's | made harmless
    assert section.count("<https://") == 1
    teams = P.teams_payload(msg)
    teams_ok(teams)
    card = json.dumps(teams["attachments"][0]["content"]["body"], ensure_ascii=False)
    assert "](" not in card  # no Markdown link from a name on the card


def test_failing_gates_are_listed_with_their_values_and_capped():
    ev = evaluation()
    reasons = ev.reasons()
    assert len(reasons) > P.GATES_SHOWN  # every gate fails
    text = P.slack_payload(message("one_off", [ev]))["blocks"][1]["text"]["text"]
    lines = text.split("\n")
    assert len(lines) == 1 + P.GATES_SHOWN + 1
    assert lines[-1] == f"• … and {len(reasons) - P.GATES_SHOWN} more"
    first = reasons[0]
    assert lines[1] == P.slack_escape(f"• ✖ FAIL {first.gate.label}: "
                                      f"{P.format_value(1.0, first.gate.unit)} (needs "
                                      f"{first.gate.describe_threshold()})")


def test_links_are_the_readiness_deep_link():
    assert P.readiness_link("https://ship.example/", "acme/web", "v3.2 beta") == \
        "https://ship.example/readiness?release=v3.2%20beta&project=acme%2Fweb"
    assert P.readiness_link("", "PAY", "2.4") is None
    slack = P.slack_payload(P.Message("one_off", [evaluation()], NOW))  # no base_url: no link
    assert all(b["type"] != "actions" for b in slack["blocks"])
    assert "actions" not in P.teams_payload(P.Message("one_off", [evaluation()], NOW)) \
        ["attachments"][0]["content"]


def test_json_digest_holds_each_release_contract():
    evs = [evaluation("2.4"), evaluation("2.5", days=5)]
    body = P.json_payload(message("digest", evs, digest_days=7))
    assert (body["event"], body["due_within_days"]) == ("digest", 7)
    assert [r["release"] for r in body["releases"]] == ["2.4", "2.5"]
    assert list(body["releases"][0])[:6] == ["release", "project", "verdict", "score",
                                             "evaluated_at", "gates"]
    assert body["releases"][1]["url"] == \
        "https://ship.example/readiness?release=2.5&project=PAY"
    json.dumps(body)  # serialisable as posted
