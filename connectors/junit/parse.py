"""Streaming, hostile-input-safe JUnit XML parser: bytes in, one :class:`TestCase` per test out.

There is no JUnit XML standard; this reads every variant in ``shared/corpus/junit`` (pytest,
Surefire, Gradle, Jest, go-junit-report, Ant, nextest, Marathon, tst):

- the root is ``<testsuites>`` or a bare ``<testsuite>``; suites nest, and a case belongs to its
  innermost named suite;
- one outcome per case, by precedence error > failure > skipped (a case can hold several result
  elements, e.g. EnricoMi's ``junit.multiresult.xml``); no result element means passed; a
  ``status="disabled"`` (or ``skipped``/``notrun``) attribute without a result element means
  skipped;
- Surefire reruns: ``flakyFailure``/``flakyError`` without ``failure``/``error`` means the test
  failed, was rerun and passed → passed with ``flaky=True``; ``rerunFailure``/``rerunError``
  sit beside the final ``failure``/``error`` of a test that failed every rerun → failed/error;
- every ``<testcase>`` is yielded as it is read, repeats included: folding the records of one
  test into one result is done by the importer (:mod:`connectors.junit.importer`), in the
  database, by suite and ``test_key`` (:func:`data.text.test_key`, a hash of the full class
  name and name); suite, class name and name are then capped at :data:`data.text.NAME`
  characters, the suite with a hash of its full text, so two suites stay two;
- ``time`` is seconds and may carry thousands separators (``"2,503.1"``); an unreadable time is
  None rather than a reason to drop the file;
- counts are never taken from suite attributes (Surefire 3.0.2 counts attempts there).

Safety: the file is fed to expat in chunks; a DOCTYPE is refused the moment it starts, so no
entity is ever declared or expanded and nothing external is fetched (XXE, billion laughs), and
parameter-entity parsing is off. Memory stays flat: only the current case and at most
:data:`MESSAGE_LIMIT` characters of its message are held, whatever the file size. Time stays
linear even for one huge attribute: expat 2.5 re-scans an unfinished token from its start on
every chunk, so while a token is unfinished the next chunk read is as large as what expat holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO, NamedTuple
from xml.parsers import expat

from data.text import MESSAGE, NAME, cap, cap_unique, test_key

MESSAGE_LIMIT = MESSAGE  # characters kept of a failure message + details
CHUNK = 1 << 16  # bytes fed to expat at a time

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
# Higher wins when one case (or a test's attempts, none passing) holds several outcomes.
_RANK = {PASSED: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}
_RESULT_TAGS = {"failure": FAILED, "error": ERROR, "skipped": SKIPPED,
                "rerunFailure": FAILED, "rerunError": ERROR}
_FLAKY_TAGS = {"flakyFailure", "flakyError"}
_SKIP_STATUS_ATTRS = {"disabled", "skipped", "notrun", "ignored"}


class JUnitError(ValueError):
    """A file that is not safe or not valid JUnit XML. ``str()`` is one line: file, line, why."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}: line {line}" if line else file
        super().__init__(f"{where}: {reason}")


class TestCase(NamedTuple):
    """One test's outcome in one report file. ``duration_s`` in seconds (None if not given)."""

    suite: str | None  # suite, classname and name capped at data.text.NAME characters
    classname: str | None
    name: str
    status: str  # passed/failed/error/skipped
    duration_s: float | None
    message: str | None  # capped at MESSAGE_LIMIT characters (data.text.cap)
    flaky: bool
    file: str  # the report file it came from
    test_key: str = ""  # data.text.test_key of the full classname and name


@dataclass
class ParseInfo:
    """What a file said about itself besides its cases (optional, for the run row)."""

    suites: int = 0
    earliest: datetime | None = None  # earliest suite/case timestamp, UTC (zoneless = UTC)


def parse_time(text: str | None) -> float | None:
    """Seconds from a ``time`` attribute: ``"1.5"``, ``"2,503.1"`` (thousands separator)."""
    if not text:
        return None
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return value if value == value and value >= 0 else None  # NaN or negative: unknown


def parse_timestamp(text: str | None) -> datetime | None:
    """A suite/case ``timestamp`` as UTC; producers (Gradle, Jest) often omit the zone → UTC."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class _Refused(Exception):
    """Raised from an expat handler to stop at a construct we do not accept."""


class _Case:
    """The case being read (mutable; becomes a TestCase at its end tag)."""

    __slots__ = ("suite", "classname", "name", "time", "rank", "flaky", "status_attr",
                 "parts", "size")

    def __init__(self, suite, attrs) -> None:
        self.suite = suite
        self.classname = attrs.get("classname") or attrs.get("class")
        self.name = attrs.get("name") or ""
        self.time = parse_time(attrs.get("time"))
        self.status_attr = attrs.get("status")
        self.rank = -1  # no result element yet
        self.flaky = False
        self.parts: list[str] = []
        self.size = 0

    def add_text(self, text: str) -> None:
        """Character data of a result element. Whitespace-only runs are the indentation
        between child elements (text arrives buffered, one run per text node): dropped."""
        if text.isspace():
            return
        self.append(text)

    def append(self, text: str) -> None:
        # One character past the limit is kept, so _message knows the text was cut.
        room = MESSAGE_LIMIT + 1 - self.size
        if room > 0:
            piece = text[:room]
            self.parts.append(piece)
            self.size += len(piece)


def _status(case: _Case) -> str:
    if case.rank >= 0:
        return _BY_RANK[case.rank]
    if case.status_attr and case.status_attr.lower() in _SKIP_STATUS_ATTRS:
        return SKIPPED
    return PASSED


_BY_RANK = {v: k for k, v in _RANK.items()}


def _message(case: _Case) -> str | None:
    if not case.parts:
        return None
    return cap("".join(case.parts).strip(), MESSAGE_LIMIT) or None


def iter_cases(stream: BinaryIO, file: str, info: ParseInfo | None = None) -> Iterator[TestCase]:
    """Yield every test case record of one JUnit XML report read from ``stream`` (bytes), in
    file order, repeats of one test included (the importer folds them).

    ``file`` names the report in results and errors. Raises :class:`JUnitError` (file name,
    expat's line number, reason) for a DOCTYPE/entity declaration, malformed or truncated XML,
    or a root element that is not ``testsuites``/``testsuite``. Cases yielded before an error
    are a partial result: callers that need all-or-nothing must discard them (the importer does).
    """
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = CHUNK
    # Belt and braces: entities and external references are refused below anyway.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    out: list[TestCase] = []  # records finished during the current chunk
    suites: list[str | None] = []  # innermost named suite per open <testsuite>
    # Inside a case: per open child element, whether its text belongs in the message (result
    # elements and their stackTrace do; system-out/err and properties do not).
    capture: list[bool] = []
    state: dict = {"case": None, "root": None}
    info = info if info is not None else ParseInfo()

    def refuse_doctype(*_args) -> None:
        raise _Refused("DOCTYPE declarations are refused (no DTDs or entities: XXE and "
                       "entity-expansion protection)")

    def refuse_entity(*_args) -> None:
        raise _Refused("entity declarations are refused (XXE and entity-expansion protection)")

    def refuse_external(*_args) -> int:
        raise _Refused("external entities are refused (XXE protection)")

    def note_timestamp(text: str | None) -> None:
        ts = parse_timestamp(text)
        if ts is not None and (info.earliest is None or ts < info.earliest):
            info.earliest = ts

    def start(tag: str, attrs: dict) -> None:
        case: _Case | None = state["case"]
        if case is not None:
            keep = False
            kind = _RESULT_TAGS.get(tag)
            if kind is not None:
                # rerunFailure/rerunError only ever sit beside the final failure/error.
                if _RANK[kind] > case.rank:
                    case.rank = _RANK[kind]
                _message_attr(case, attrs)
                keep = True
            elif tag in _FLAKY_TAGS:
                case.flaky = True
                _message_attr(case, attrs)
                keep = True
            elif tag == "stackTrace":
                keep = bool(capture) and capture[-1]
            capture.append(keep)
            parser.CharacterDataHandler = case.add_text if keep else None
            return
        if tag == "testcase":
            state["case"] = _Case(suites[-1] if suites else None, attrs)
            if "timestamp" in attrs:
                note_timestamp(attrs["timestamp"])
            return
        if tag == "testsuite":
            suites.append(attrs.get("name") or (suites[-1] if suites else None))
            info.suites += 1
            if "timestamp" in attrs:
                note_timestamp(attrs["timestamp"])
            if state["root"] is None:
                state["root"] = tag
            return
        if state["root"] is None:
            if tag != "testsuites":
                raise _Refused(f"not a JUnit report: the root element is <{tag}>, expected "
                               "<testsuites> or <testsuite>")
            state["root"] = tag
            if "timestamp" in attrs:
                note_timestamp(attrs["timestamp"])

    def _message_attr(case: _Case, attrs: dict) -> None:
        if case.size:
            case.append("\n")
        message = attrs.get("message")
        if message:
            case.append(message + "\n")

    def end(tag: str) -> None:
        case: _Case | None = state["case"]
        if case is None:
            if tag == "testsuite" and suites:
                suites.pop()
            return
        if capture:
            capture.pop()
            parser.CharacterDataHandler = case.add_text if capture and capture[-1] else None
            return
        # the </testcase> itself
        state["case"] = None
        # Identities from the full texts, before the caps.
        # The suite stays distinct when capped: the importer folds by (suite, test_key).
        out.append(TestCase(cap_unique(case.suite, NAME), cap(case.classname, NAME),
                            cap(case.name, NAME), _status(case), case.time, _message(case),
                            case.flaky and case.rank < _RANK[FAILED], file,
                            test_key(case.classname, case.name)))

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = start
    parser.EndElementHandler = end

    def feed(data: bytes, final: bool) -> None:
        try:
            parser.Parse(data, final)
        except _Refused as exc:
            raise JUnitError(file, parser.CurrentLineNumber, str(exc)) from None
        except expat.ExpatError as exc:
            reason = expat.ErrorString(exc.code) if exc.code else str(exc)
            raise JUnitError(file, exc.lineno, f"not well-formed XML ({reason}); the file may "
                             "be truncated or not a JUnit report") from None

    fed = 0
    while True:
        # Bytes expat holds unparsed (an unfinished token): read at least as many again, so
        # a token of n bytes is re-scanned O(log n) times, not n / CHUNK times.
        held = fed - max(parser.CurrentByteIndex, 0)
        try:
            data = stream.read(max(CHUNK, held))
        except Exception as exc:  # noqa: BLE001 - any stream (file, zip member) failing to read
            raise JUnitError(file, parser.CurrentLineNumber,
                             f"cannot read: {exc.__class__.__name__}") from None
        if not data:
            break
        feed(data, False)
        fed += len(data)
        if out:
            yield from out
            out.clear()
    feed(b"", True)
    if state["root"] is None:
        raise JUnitError(file, parser.CurrentLineNumber, "empty file: no JUnit report in it")
    yield from out
    out.clear()
