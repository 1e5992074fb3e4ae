"""JUnit XML parsing: every producer variant, hostile input, flat memory.

Small fixtures are written here; the real reports are read from the corpus in place.
"""

from __future__ import annotations

import io
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from connectors.junit.parse import (MESSAGE_LIMIT, JUnitError, ParseInfo, iter_cases,
                                    parse_time)
from data.text import ELLIPSIS, NAME, cap_unique, test_key


def parse(xml: str | bytes, name: str = "report.xml", info: ParseInfo | None = None):
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    return list(iter_cases(io.BytesIO(data), name, info))


def outcome(cases) -> dict[str, int]:
    return dict(Counter(c.status for c in cases))


# --- outcomes -------------------------------------------------------------------------------
def test_testsuite_root_and_plain_outcomes():
    cases = parse("""<?xml version="1.0"?>
    <testsuite name="S" tests="99" failures="42">
      <testcase classname="C" name="ok" time="0.5"/>
      <testcase classname="C" name="bad" time="1"><failure message="boom">trace</failure></testcase>
      <testcase classname="C" name="crash"><error message="npe"/></testcase>
      <testcase classname="C" name="later"><skipped/></testcase>
    </testsuite>""")
    # suite attributes claim 99 tests / 42 failures; the four cases are what counts
    assert [(c.suite, c.classname, c.name, c.status, c.duration_s) for c in cases] == [
        ("S", "C", "ok", "passed", 0.5), ("S", "C", "bad", "failed", 1.0),
        ("S", "C", "crash", "error", None), ("S", "C", "later", "skipped", None)]
    assert cases[1].message == "boom\ntrace"
    assert cases[2].message == "npe"
    assert {c.file for c in cases} == {"report.xml"}


def test_multiresult_precedence_error_over_failure_over_skipped():
    cases = parse("""<testsuites><testsuite name="s">
      <testcase name="a"><skipped/><failure/><error/></testcase>
      <testcase name="b"><skipped/><failure/></testcase>
      <testcase name="c"><error/><skipped/></testcase>
      <testcase name="d"><skipped/></testcase>
    </testsuite></testsuites>""")
    assert [c.status for c in cases] == ["error", "failed", "error", "skipped"]


def test_status_attribute_disabled_is_skipped():
    cases = parse("""<testsuites><testsuite name="s">
      <testcase name="off" status="disabled"/>
      <testcase name="on" status="passed"/>
      <testcase name="boom" status="errored"><error message="x"/></testcase>
    </testsuite></testsuites>""")
    assert [c.status for c in cases] == ["skipped", "passed", "error"]


def test_surefire_flaky_and_rerun_elements():
    cases = parse("""<testsuite name="T" tests="7" failures="6">
      <testcase classname="T" name="flaky" time="0.25">
        <flakyFailure message="first try"><stackTrace>at T.flaky</stackTrace>
          <system-out>noise</system-out></flakyFailure>
        <flakyError message="second try"><stackTrace>at T.flaky2</stackTrace></flakyError>
      </testcase>
      <testcase classname="T" name="always" time="0.5">
        <failure message="built to fail">trace</failure>
        <rerunFailure message="built to fail"><stackTrace>t</stackTrace></rerunFailure>
        <rerunFailure message="built to fail"><stackTrace>t</stackTrace></rerunFailure>
      </testcase>
      <testcase classname="T" name="errs"><error/><rerunError/></testcase>
    </testsuite>""")
    assert [(c.name, c.status, c.flaky) for c in cases] == [
        ("flaky", "passed", True), ("always", "failed", False), ("errs", "error", False)]
    # the flaky attempts' messages and traces are kept (without the indentation between
    # elements), system-out is not
    assert cases[0].message == "first try\nat T.flaky\nsecond try\nat T.flaky2"


def test_every_record_is_yielded_with_its_identity():
    """Repeats are not folded here (the importer folds, in the database): each record carries
    the key it is folded and compared by, hashed from the full class name and name."""
    cases = parse("""<testsuite name="S">
      <testcase classname="C" name="x"><failure message="later"/></testcase>
      <testcase classname="C" name="y"/>
      <testcase classname="C" name="x"/>
      <testcase name="x"/>
      <testcase classname="" name="x"/>
      <testcase/>
      <testcase/>
    </testsuite>""")
    assert [(c.suite, c.classname, c.name, c.status) for c in cases] == [
        ("S", "C", "x", "failed"), ("S", "C", "y", "passed"), ("S", "C", "x", "passed"),
        ("S", None, "x", "passed"), ("S", None, "x", "passed"), ("S", None, "", "passed"),
        ("S", None, "", "passed")]
    keys = [c.test_key for c in cases]
    assert keys[0] == keys[2] == test_key("C", "x") != keys[1] == test_key("C", "y")
    assert keys[3] == keys[4] == test_key(None, "x") == test_key("", "x") != keys[0]


def test_long_names_are_capped_after_the_identity_is_taken():
    long = "a" * (NAME * 3)
    (case,) = parse(f'<testsuite name="{long}"><testcase classname="{long}" name="{long}b"/>'
                    "</testsuite>")
    assert case.classname == case.name == long[:NAME - 1] + ELLIPSIS
    # the suite is compared as text when folding: its cap keeps a hash of the full text
    assert len(case.suite) == NAME and case.suite == cap_unique(long, NAME) != cap_unique(
        long + "b", NAME)
    assert case.test_key == test_key(long, long + "b")


def test_nested_suites_give_the_innermost_named_suite():
    info = ParseInfo()
    cases = parse("""<testsuites><testsuite name="outer" timestamp="2021-03-19T03:11:49">
        <testsuite name="inner" timestamp="2021-03-19T03:10:00+01:00">
          <testcase name="a"/></testsuite>
        <testsuite><testcase name="b"/></testsuite>
        <testcase name="c"/>
      </testsuite></testsuites>""", info=info)
    assert [(c.suite, c.name) for c in cases] == [("inner", "a"), ("outer", "b"),
                                                   ("outer", "c")]
    assert info.suites == 3
    # 03:10+01:00 = 02:10 UTC, earlier than the zoneless (taken as UTC) 03:11:49
    assert info.earliest.isoformat() == "2021-03-19T02:10:00+00:00"


@pytest.mark.parametrize("text, seconds", [
    ("1.5", 1.5), ("2,503.1", 2503.1), ("1,234,567.25", 1234567.25), ("0", 0.0),
    ("", None), (None, None), ("N/A", None), ("-1", None), ("nan", None)])
def test_time_attribute(text, seconds):
    assert parse_time(text) == seconds


def test_message_is_truncated():
    body = "x" * (3 * MESSAGE_LIMIT)
    (case,) = parse(f'<testsuite><testcase name="t"><failure message="m">{body}</failure>'
                    "</testcase></testsuite>")
    assert len(case.message) == MESSAGE_LIMIT
    assert case.message.startswith("m\nxxx") and case.message.endswith("x" + ELLIPSIS)


def test_astral_plane_characters_and_escapes_survive():
    (case,) = parse('<testsuite><testcase name="snake \U0001F40D &amp; &lt;b&gt;"/></testsuite>')
    assert case.name == "snake \U0001F40D & <b>"


# --- refused input --------------------------------------------------------------------------
def test_truncated_file_names_file_and_line():
    with pytest.raises(JUnitError) as err:
        parse('<?xml version="1.0"?>\n<testsuite name="s">\n<testcase name="a"/>\n<testc',
              name="reports/TEST-cut.xml")
    assert err.value.file == "reports/TEST-cut.xml"
    assert err.value.line == 4
    assert str(err.value).startswith("reports/TEST-cut.xml: line 4: not well-formed XML")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("xml, reason", [
    ("<html><body/></html>", "root element is <html>"),
    ("", "not well-formed"),
    ("just text", "not well-formed"),
])
def test_not_junit(xml, reason):
    with pytest.raises(JUnitError, match=reason):
        parse(xml)


def xxe_document(target: Path) -> str:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE testsuite [\n'
            f'  <!ENTITY leak SYSTEM "{target.as_uri()}">\n]>\n'
            '<testsuite name="s"><testcase name="&leak;"><failure message="&leak;"/>'
            "</testcase></testsuite>")


def test_xxe_is_refused_without_reading_the_file(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-7f3a9c")
    with pytest.raises(JUnitError) as err:
        parse(xxe_document(secret), name="evil.xml")
    assert err.value.line == 2  # stopped at the DOCTYPE, before the entity was declared
    assert "DOCTYPE" in str(err.value)
    assert "MARKER-7f3a9c" not in repr(err.value)


def test_billion_laughs_is_refused_at_the_doctype():
    lol = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10)]
    doc = ("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n" + "\n".join(lol) + "\n]>\n"
           "<testsuite><testcase name=\"&lol9;\"/></testsuite>").encode()

    class CountingStream(io.BytesIO):
        reads = 0

        def read(self, size=-1):
            CountingStream.reads += 1
            return super().read(size)

    stream = CountingStream(doc)
    with pytest.raises(JUnitError, match="DOCTYPE") as err:
        list(iter_cases(stream, "lol.xml"))
    # refused on the DOCTYPE line, within the first chunk read: nothing was expanded
    assert err.value.line == 2
    assert CountingStream.reads == 1


def test_memory_stays_flat_on_a_large_stream():
    """~100,000 cases (about 12 MB of XML) are parsed holding a few hundred KB at most."""

    class Generated(io.RawIOBase):
        def __init__(self, n):
            self.parts = self.generate(n)  # produced lazily: the XML never exists whole
            self.buf = b""

        @staticmethod
        def generate(n):
            yield b"<testsuites><testsuite name='big'>"
            for i in range(n):
                yield (b"<testcase classname='pkg.C%d' name='t%d' time='0.001'>"
                       b"<failure message='m'>%s</failure></testcase>"
                       % (i % 97, i, b"trace " * 10))
            yield b"</testsuite></testsuites>"

        def readable(self):
            return True

        def readinto(self, b):
            while len(self.buf) < len(b):
                try:
                    self.buf += next(self.parts)
                except StopIteration:
                    break
            n = min(len(b), len(self.buf))
            b[:n], self.buf = self.buf[:n], self.buf[n:]
            return n

    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_cases(io.BufferedReader(Generated(100_000)), "big.xml"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < 4 * 1024 * 1024


# --- the corpus -----------------------------------------------------------------------------
def corpus_cases(corpus: Path, rel: str):
    with open(corpus / "junit" / rel, "rb") as fh:
        return list(iter_cases(fh, rel))


@pytest.mark.parametrize("rel, expected", [
    # counted by hand from the files' <testcase> elements and their result children
    ("jenkins-junit-plugin/surefire-3.0.2-FlakyTest.xml", {"passed": 1}),  # suite says 3 tests
    ("jenkins-junit-plugin/surefire-3.0.2-AlwaysFailTest.xml", {"failed": 1}),  # suite says 4
    ("jenkins-junit-plugin/time-attrs-comma-nested.xml", {"passed": 8}),
    ("jenkins-junit-plugin/nested-testsuites.xml", {"passed": 2}),
    ("go-junit-report/012-subtests.report.xml", {"passed": 6, "failed": 4, "skipped": 1}),
    ("go-junit-report/014-panic.report.xml", {"error": 2}),
    ("dorny/jest-junit.xml", {"passed": 1, "failed": 4, "skipped": 1}),
    ("gradle/TEST-com.gradle.example.application.MessageServiceTest.xml", {"failed": 1}),
    ("mikepenz/nextest-basic.xml", {"passed": 2, "failed": 1}),
    # three records of one test (folded into one flaky pass: tests/test_junit_fold.py)
    ("mikepenz/flaky-success-first.xml", {"passed": 1, "failed": 1, "error": 1}),
    ("mikepenz/marathon-flakyFailure.xml", {"passed": 1}),
    ("mikepenz/surefire-flakyFailure.xml", {"passed": 1}),
    ("dorny/jest-junit-empty-testsuite.xml", {}),
])
def test_corpus_variants(corpus, rel, expected):
    assert outcome(corpus_cases(corpus, rel)) == expected


def test_corpus_surefire_flaky_marks(corpus):
    (flaky,) = corpus_cases(corpus, "jenkins-junit-plugin/surefire-3.0.2-FlakyTest.xml")
    (always,) = corpus_cases(corpus, "jenkins-junit-plugin/surefire-3.0.2-AlwaysFailTest.xml")
    assert (flaky.classname, flaky.name, flaky.status, flaky.flaky) == (
        "io.olamy.FlakyTest", "testApp", "passed", True)
    assert (always.classname, always.name, always.status, always.flaky) == (
        "io.olamy.AlwaysFailTest", "testApp", "failed", False)
    assert always.message.startswith("built to fail")


def test_corpus_time_with_thousands_separator(corpus):
    info = ParseInfo()
    with open(corpus / "junit/jenkins-junit-plugin/time-attrs-comma-nested.xml", "rb") as fh:
        cases = list(iter_cases(fh, "comma.xml", info))
    # case times 10 + 11 + 10 + 12 + 12 + 13 + 13 + 20 = 101 s (the suite's "2,503.1" is not
    # a case time and is not summed); nested suite test.RestMethods holds three cases
    assert sum(c.duration_s for c in cases) == 101
    assert [c.suite for c in cases].count("test.RestMethods") == 3
    assert info.suites == 4


def test_corpus_xxe_attack_is_refused(corpus):
    with pytest.raises(JUnitError, match="DOCTYPE") as err:
        corpus_cases(corpus, "jenkins-junit-plugin/xxe-attack.xml")
    assert err.value.line == 2


def test_one_huge_attribute_is_fed_in_growing_chunks():
    """expat 2.5 re-scans an unfinished token from its start on every chunk: an 8 MB name fed
    64 KB at a time is scanned 128 times over (quadratic). While a token is unfinished the
    parser reads as much again as expat holds, so the reads grow geometrically."""
    huge = b"n" * (8 << 20)
    data = b'<testsuite name="S"><testcase classname="C" name="' + huge + b'"/></testsuite>'

    class Reads(io.BytesIO):
        sizes: list[int] = []

        def read(self, size=-1):
            chunk = super().read(size)
            self.sizes.append(len(chunk))
            return chunk

    (case,) = list(iter_cases(Reads(data), "huge.xml"))
    # 64 KB, then doubling: 64 K + 64 K + 128 K + ... reaches 8 MB in 8 reads (+ the empty one)
    assert len(Reads.sizes) <= 10, Reads.sizes
    assert case.name.endswith(ELLIPSIS) and case.test_key == test_key("C", huge.decode())
