"""The bodies of notification messages: Slack Block Kit, a Teams Adaptive Card in a
workflow's message envelope, or the readiness JSON contract (docs/cli.md). Pure: a
:class:`Message` in, a JSON-able dict out.

Each message says the verdict, the score, the gates that keep the release from GO with their
values, and a link to the release's Readiness page when ``[app] base_url`` is set.

Limits kept (Slack's Block Kit reference; Teams' Adaptive Card docs):

- Slack: at most 50 blocks; a header's plain text 150 characters, a section's text 3000,
  a button's text 75 and URL 3000; text from sources has ``&``, ``<`` and ``>`` escaped (they
  would open links and mentions such as ``<!channel>`` in Slack's mrkdwn).
- Teams: an Adaptive Card of version :data:`CARD_VERSION` inside
  ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": card}]}``, under 28 KB; source text
  only in TextBlocks and FactSets (never making a link there), links only as
  ``Action.OpenUrl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from metrics import gates as G
from metrics.format import format_value, one_line, safe_url
from metrics.report import STATUS_ICONS, VERDICT_WORDS, status_word

CHANNELS = ("slack", "teams", "json")
CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SLACK_MAX_BLOCKS = 50
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 3000
SLACK_BUTTON_CHARS = 75
SLACK_URL_CHARS = 3000
TEAMS_MAX_RELEASES = 20  # a digest's releases on one card (the card stays far below 28 KB)
GATES_SHOWN = 8  # failing gates listed per release; the rest are counted
VERDICT_ICONS = {G.GO: "🟢", G.AT_RISK: "🟠", G.NO_GO: "🔴"}
CARD_COLORS = {G.GO: "Good", G.AT_RISK: "Warning", G.NO_GO: "Attention"}


@dataclass(frozen=True)
class Message:
    """What one notification says.

    ``kind``: ``change`` (the verdict moved from ``previous``), ``digest`` (releases due within
    ``digest_days``) or ``one_off`` (one release's state, asked for). ``evaluations`` are
    :class:`metrics.readiness.Evaluation` objects; ``links`` maps a release id to its page."""

    kind: str
    evaluations: list
    now: datetime
    previous: str | None = None
    digest_days: int | None = None
    links: dict[str, str | None] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """One line naming the message, for the command's output and the outbox."""
        if self.kind == "digest":
            n = len(self.evaluations)
            return f"digest: {n} release{'s' if n != 1 else ''} due within {self.digest_days} days"
        ev = self.evaluations[0]
        name = f"{ev.project} {ev.release}"
        if self.kind == "change":
            return (f"{name}: verdict {VERDICT_WORDS.get(self.previous, self.previous)} → "
                    f"{VERDICT_WORDS[ev.verdict]}")
        return f"{name}: {VERDICT_WORDS[ev.verdict]}"


def readiness_link(base_url: str, project: str, release: str) -> str | None:
    """The Readiness page of a release: ``{base_url}/readiness?release=NAME&project=KEY``
    (the deep link the app reads, ui/filters.py); None without a base URL."""
    if not base_url:
        return None
    url = (f"{base_url.rstrip('/')}/readiness?release={quote(release, safe='')}"
           f"&project={quote(project, safe='')}")
    return safe_url(url)


# --- shared wording ------------------------------------------------------------------------
def _name(ev) -> str:
    return f"{ev.project} {ev.release}"


def _due(ev, now: datetime) -> str:
    if ev.target_date is None:
        return "no target date"
    days = (ev.target_date.date() - now.date()).days
    when = ("today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}" if days > 0
            else f"{-days} day{'s' if days != -1 else ''} overdue")
    return f"target {ev.target_date:%Y-%m-%d} ({when})"


def gate_line(g) -> str:
    """``✖ FAIL No open critical bugs: 1 (needs ≤ 0)`` — the gate's status, value and what it
    needs."""
    return (f"{status_word(g.status)} {one_line(g.gate.label, 120)}: "
            f"{format_value(g.value, g.gate.unit)} (needs {g.gate.describe_threshold()})")


def _gate_lines(ev) -> list[str]:
    reasons = ev.reasons()
    lines = [gate_line(g) for g in reasons[:GATES_SHOWN]]
    if len(reasons) > GATES_SHOWN:
        lines.append(f"… and {len(reasons) - GATES_SHOWN} more")
    return lines


def _headline(msg: Message, ev) -> str:
    word = VERDICT_WORDS[ev.verdict]
    if msg.kind == "change":
        return (f"Verdict changed: {VERDICT_WORDS.get(msg.previous, msg.previous)} → {word}"
                f" · score {ev.score:g}/100")
    return f"{word} · score {ev.score:g}/100"


def _title(msg: Message) -> str:
    if msg.kind == "digest":
        return f"🚦 Releases due within {msg.digest_days} days"
    ev = msg.evaluations[0]
    return f"{VERDICT_ICONS[ev.verdict]} {_name(ev)}: {VERDICT_WORDS[ev.verdict]}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Slack ---------------------------------------------------------------------------------
def slack_escape(text: object) -> str:
    """Text for Slack mrkdwn: ``&``, ``<`` and ``>`` as entities (Slack's own escaping), on
    one line."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(label: str, url: str | None) -> str:
    text = slack_escape(label).replace("|", "¦")  # a bare | ends a link's URL part
    return f"<{url}|{text}>" if url and len(url) <= SLACK_URL_CHARS else text


def _slack_release_text(msg: Message, ev) -> str:
    link = msg.links.get(ev.release_id)
    head = (f"*{_slack_link(_name(ev), link)}* — {slack_escape(_headline(msg, ev))} · "
            f"{_due(ev, msg.now)}")
    lines = [slack_escape(line) for line in _gate_lines(ev)]
    body = "\n".join([head] + [f"• {line}" for line in lines])
    return _clip(body, SLACK_TEXT_CHARS)


def slack_payload(msg: Message) -> dict:
    """An incoming-webhook body: ``text`` (the notification's fallback) and ``blocks``."""
    blocks: list[dict] = [{"type": "header", "text": {
        "type": "plain_text", "text": _clip(one_line(_title(msg)), SLACK_HEADER_CHARS),
        "emoji": True}}]
    shown = msg.evaluations[: SLACK_MAX_BLOCKS - 4]
    for ev in shown:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": _slack_release_text(msg, ev)}})
    if len(msg.evaluations) > len(shown):
        blocks.append({"type": "section", "text": {
            "type": "mrkdwn", "text": f"… and {len(msg.evaluations) - len(shown)} more"}})
    if msg.kind != "digest":
        link = msg.links.get(msg.evaluations[0].release_id)
        if link and len(link) <= SLACK_URL_CHARS:
            blocks.append({"type": "actions", "elements": [{
                "type": "button", "text": {"type": "plain_text", "text": "Open readiness page"},
                "url": link}]})
    blocks.append({"type": "context", "elements": [{
        "type": "mrkdwn", "text": f"ShipReady · {msg.now:%Y-%m-%d %H:%M} UTC"}]})
    if msg.kind == "digest":
        fallback = _title(msg)
    else:
        ev = msg.evaluations[0]
        fallback = f"{_name(ev)}: {_headline(msg, ev)}"
    return {"text": _clip(slack_escape(fallback), SLACK_TEXT_CHARS), "blocks": blocks}


# --- Teams ---------------------------------------------------------------------------------
def card_text(text: object) -> str:
    """Text for a card's TextBlock or fact, on one line. Teams renders Markdown there; a
    zero-width space between ``]`` and ``(`` keeps source text from making a link (links go
    only in ``Action.OpenUrl``)."""
    return one_line(text).replace("](", "]\u200b(")


def _text_block(text: str, **style) -> dict:
    return {"type": "TextBlock", "text": card_text(text), "wrap": True, **style}


def _teams_release(msg: Message, ev) -> list[dict]:
    items = [_text_block(f"{_name(ev)} — {_headline(msg, ev)}", weight="Bolder",
                         color=CARD_COLORS[ev.verdict]),
             _text_block(_due(ev, msg.now), isSubtle=True, spacing="None")]
    reasons = ev.reasons()
    if reasons:
        facts = [{"title": f"{STATUS_ICONS[g.status]} {g.status.replace('_', ' ')}",
                  "value": card_text(f"{one_line(g.gate.label, 120)}: "
                                     f"{format_value(g.value, g.gate.unit)} "
                                     f"(needs {g.gate.describe_threshold()})")}
                 for g in reasons[:GATES_SHOWN]]
        if len(reasons) > GATES_SHOWN:
            facts.append({"title": "…", "value": f"and {len(reasons) - GATES_SHOWN} more"})
        items.append({"type": "FactSet", "facts": facts})
    return items


def teams_payload(msg: Message) -> dict:
    """A Teams workflow webhook body: the message envelope around one Adaptive Card."""
    body: list[dict] = [_text_block(_title(msg), size="Large", weight="Bolder")]
    shown = msg.evaluations[:TEAMS_MAX_RELEASES]
    for ev in shown:
        container: dict = {"type": "Container", "separator": True,
                           "items": _teams_release(msg, ev)}
        link = msg.links.get(ev.release_id)
        if link and msg.kind == "digest":
            container["selectAction"] = {"type": "Action.OpenUrl", "url": link,
                                         "title": f"Open {_name(ev)}"}
        body.append(container)
    if len(msg.evaluations) > len(shown):
        body.append(_text_block(f"… and {len(msg.evaluations) - len(shown)} more",
                                isSubtle=True))
    body.append(_text_block(f"ShipReady · {msg.now:%Y-%m-%d %H:%M} UTC", isSubtle=True,
                            size="Small"))
    card: dict = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                  "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}
    link = msg.links.get(msg.evaluations[0].release_id) if msg.kind != "digest" else None
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open readiness page",
                            "url": link}]
    return {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE,
                                                "contentUrl": None, "content": card}]}


# --- JSON ----------------------------------------------------------------------------------
def _contract(msg: Message, ev) -> dict:
    out = ev.to_dict()  # the contract keys first, as `metrics readiness --format json`
    out["url"] = msg.links.get(ev.release_id)
    return out


def json_payload(msg: Message) -> dict:
    """A change or one-off: the release's readiness object (docs/cli.md) plus ``event``,
    ``previous_verdict`` and ``url``. A digest: ``{"event": "digest", "due_within_days": N,
    "releases": [readiness objects with their url]}``."""
    if msg.kind == "digest":
        return {"event": "digest", "due_within_days": msg.digest_days,
                "sent_at": msg.now.isoformat(),
                "releases": [_contract(msg, ev) for ev in msg.evaluations]}
    out = _contract(msg, msg.evaluations[0])
    out["event"] = "verdict_changed" if msg.kind == "change" else "status"
    out["previous_verdict"] = msg.previous
    return out


PAYLOADS = {"slack": slack_payload, "teams": teams_payload, "json": json_payload}


def payload(msg: Message, channel: str) -> dict:
    """The body of ``msg`` for ``channel`` (slack, teams or json)."""
    return PAYLOADS[channel](msg)
