"""Notifications: a release's verdict changed, and the daily digest of releases due soon
(README, Notifications). :func:`send_due` is what the scheduler and ``python -m metrics
notify`` call; :func:`send_one_off` posts one release's state on request.

Definitions:

- open release: ``releases.state`` is ``unreleased``;
- verdict change: an open release's verdict now differs from the last verdict the notifier saw
  for it (``notify_verdicts``). The first time it sees a release, the last stored evaluation
  (``readiness_snapshots``) stands in; with none, the verdict is only remembered;
- due within N days (``[notify] digest_days``): an open release whose target date (UTC) is
  from today to N days after today; the digest goes once per UTC day, from ``digest_hour``
  on, and only when a release is due.

At most once: every message is a row of ``notifications`` — written and committed with the
status ``sending`` before the post (with the verdict it announces, in the same transaction),
then set to ``sent``, ``failed`` or ``unsent``. Only ``unsent`` rows (nothing reached the
server, or it kept answering 429) are posted again, by a later run within
:data:`RETRY_WITHIN`; a row left ``sending`` by a crash is never sent again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, Engine, select, update

from data.schema import notifications as nt
from data.schema import notify_verdicts as nv
from data.schema import readiness_snapshots as rs
from data.schema import releases
from data.store import insert_for
from metrics import notify_payloads as P
from metrics.readiness import Evaluation, evaluate_release

RETRY_WITHIN = timedelta(days=1)
SUBJECT_CHARS = 255


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: ``status`` sent / failed / unsent / dry_run, its
    ``subject`` (one line), the ``error`` (one redacted line) and the body (for --dry-run)."""

    key: str
    kind: str
    channel: str
    subject: str
    status: str
    error: str | None = None
    http_status: int | None = None
    payload: dict | None = None


def _short(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def open_release_ids(conn: Connection) -> list[str]:
    """Ids of the releases not yet shipped (state ``unreleased``), by target date."""
    q = (select(releases.c.id).where(releases.c.state == "unreleased")
         .order_by(releases.c.target_date, releases.c.project, releases.c.name))
    return list(conn.execute(q).scalars())


def is_due(ev: Evaluation, now: datetime, days: int) -> bool:
    """Whether ``ev``'s release has a target date from today to ``days`` after (UTC dates)."""
    if ev.target_date is None or ev.released_at is not None:
        return False
    left = (ev.target_date.astimezone(timezone.utc).date() - now.date()).days
    return 0 <= left <= days


def _last_seen(conn: Connection, release_id: str) -> str | None:
    seen = conn.execute(select(nv.c.verdict).where(nv.c.release_id == release_id)).scalar()
    if seen is not None:
        return seen
    return conn.execute(select(rs.c.verdict).where(rs.c.release_id == release_id)
                        .order_by(rs.c.evaluated_at.desc(), rs.c.id.desc()).limit(1)).scalar()


def _claim_change(conn: Connection, release_id: str, before: str | None, now_verdict: str,
                  now: datetime) -> bool:
    """Move the remembered verdict from ``before`` to ``now_verdict``; True when this run did
    it (a second process running at once finds it done and sends nothing)."""
    if conn.execute(select(nv.c.release_id).where(nv.c.release_id == release_id)).first():
        res = conn.execute(update(nv).where(nv.c.release_id == release_id,
                                            nv.c.verdict == before)
                           .values(verdict=now_verdict, seen_at=now))
        return res.rowcount == 1
    res = conn.execute(insert_for(conn, nv).values(release_id=release_id, verdict=now_verdict,
                                                   seen_at=now)
                       .on_conflict_do_nothing(index_elements=["release_id"]))
    return res.rowcount == 1


def _links(settings, evaluations: list[Evaluation]) -> dict[str, str | None]:
    return {ev.release_id: P.readiness_link(settings.app.base_url, ev.project, ev.release)
            for ev in evaluations}


def _queue(conn: Connection, key: str, msg: P.Message, channel: str, now: datetime,
           *, release_id: str | None = None, verdict: str | None = None) -> dict | None:
    """Write the message's row (status ``sending``) unless its key exists; the row to post."""
    row = {"key": key, "kind": msg.kind, "channel": channel, "release_id": release_id,
           "verdict": verdict, "subject": msg.subject[:SUBJECT_CHARS], "status": "sending",
           "created_at": now, "attempts": 1, "payload": P.payload(msg, channel)}
    new = conn.execute(insert_for(conn, nt).values(**row)
                       .on_conflict_do_nothing(index_elements=["key"])
                       .returning(nt.c.id)).scalar()
    return None if new is None else {**row, "id": new}


def plan(conn: Connection, settings, now: datetime, channel: str) -> list[dict]:
    """Work out and record (status ``sending``) the messages due now: verdict changes, then
    the digest. Returns the rows to post. Call inside a transaction and commit before
    posting."""
    rows: list[dict] = []
    evaluations = [evaluate_release(conn, settings, rid, now=now)
                   for rid in open_release_ids(conn)]
    for ev in evaluations:
        before = _last_seen(conn, ev.release_id)
        if not _claim_change(conn, ev.release_id, before, ev.verdict, now):
            continue
        if before is None or before == ev.verdict:
            continue
        msg = P.Message("change", [ev], now, previous=before, links=_links(settings, [ev]))
        key = f"change:{channel}:{_short(ev.release_id)}:{now.isoformat()}"
        row = _queue(conn, key, msg, channel, now, release_id=ev.release_id,
                     verdict=ev.verdict)
        if row:
            rows.append(row)
    cfg = settings.notify
    due = [ev for ev in evaluations if is_due(ev, now, cfg.digest_days)]
    if due and now.hour >= cfg.digest_hour:
        due.sort(key=lambda ev: (ev.target_date, ev.project, ev.release))
        msg = P.Message("digest", due, now, digest_days=cfg.digest_days,
                        links=_links(settings, due))
        row = _queue(conn, f"digest:{channel}:{now:%Y-%m-%d}", msg, channel, now)
        if row:
            rows.append(row)
    return rows


def _retry_rows(conn: Connection, channel: str, now: datetime) -> list[dict]:
    """Claim the messages a recent run left ``unsent`` (nothing reached the server)."""
    out = []
    q = (select(nt).where(nt.c.status == "unsent", nt.c.channel == channel,
                          nt.c.created_at >= now - RETRY_WITHIN).order_by(nt.c.id))
    for r in conn.execute(q).mappings().all():
        res = conn.execute(update(nt).where(nt.c.id == r["id"], nt.c.status == "unsent")
                           .values(status="sending", attempts=r["attempts"] + 1))
        if res.rowcount == 1:
            out.append(dict(r))
    return out


def _post(engine: Engine, sender, rows: list[dict], now: datetime) -> list[Outcome]:
    outcomes = []
    for row in rows:
        d = sender.post(row["payload"])
        with engine.begin() as conn:
            conn.execute(update(nt).where(nt.c.id == row["id"]).values(
                status=d.status, http_status=d.http_status, error=d.error,
                sent_at=now if d.status == "sent" else None))
        outcomes.append(Outcome(row["key"], row["kind"], row["channel"], row["subject"],
                                d.status, d.error, d.http_status))
    return outcomes


def _sender(settings, variable: str | None, clock):
    from metrics.webhook import WebhookSender, webhook_url

    name = variable or settings.notify.webhook_env
    return WebhookSender(webhook_url(name), variable=name, clock=clock)


def send_due(engine: Engine, settings, now: datetime | None = None, *,
             channel: str | None = None, webhook_env: str | None = None,
             dry_run: bool = False, clock=None) -> list[Outcome]:
    """Post every notification due at ``now`` — verdict changes, the daily digest, and
    messages a recent run could not get to the server — each at most once. Returns one
    :class:`Outcome` per message (none: nothing due, or ``[notify] to`` unset and no
    ``channel`` given). ``channel`` and ``webhook_env`` override ``[notify]``. A missing
    webhook URL raises :class:`data.config.ConfigError` before anything is recorded.
    ``dry_run``: work the messages out and return their bodies; record and send nothing."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    channel = channel or settings.notify.to
    if channel is None:
        return []
    if channel not in P.CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if dry_run:
        with engine.connect() as conn:
            with conn.begin() as tx:
                rows = plan(conn, settings, now, channel)
                tx.rollback()
        return [Outcome(r["key"], r["kind"], channel, r["subject"], "dry_run",
                        payload=r["payload"]) for r in rows]
    sender = _sender(settings, webhook_env, clock)
    try:
        with engine.begin() as conn:
            rows = _retry_rows(conn, channel, now) + plan(conn, settings, now, channel)
        return _post(engine, sender, rows, now)
    finally:
        sender.close()


def send_one_off(engine: Engine, settings, release_id: str, channel: str, *,
                 webhook_env: str | None = None, now: datetime | None = None,
                 dry_run: bool = False, clock=None) -> Outcome:
    """Post ``release_id``'s verdict, score and failing gates now (recorded like every
    message, so it too goes at most once)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    with engine.connect() as conn:
        ev = evaluate_release(conn, settings, release_id, now=now)
    msg = P.Message("one_off", [ev], now, links=_links(settings, [ev]))
    key = f"one_off:{channel}:{_short(release_id)}:{now.isoformat()}"
    if dry_run:
        return Outcome(key, "one_off", channel, msg.subject, "dry_run",
                       payload=P.payload(msg, channel))
    sender = _sender(settings, webhook_env, clock)
    try:
        with engine.begin() as conn:
            row = _queue(conn, key, msg, channel, now, release_id=release_id,
                         verdict=ev.verdict)
        if row is None:  # the same second twice: already recorded, never sent twice
            return Outcome(key, "one_off", channel, msg.subject, "failed",
                           "notify: this message was already recorded; not sent again")
        return _post(engine, sender, [row], now)[0]
    finally:
        sender.close()


def describe(outcome: Outcome) -> str:
    """One line for people: ``sent (slack): PAY 2.4: verdict GO → NO-GO``."""
    word = {"sent": "sent", "failed": "FAILED", "unsent": "not sent (will retry next run)",
            "dry_run": "would send"}[outcome.status]
    line = f"{word} ({outcome.channel}): {outcome.subject}"
    return f"{line} — {outcome.error}" if outcome.error else line


__all__ = ["send_due", "send_one_off", "Outcome", "describe", "plan", "is_due"]
