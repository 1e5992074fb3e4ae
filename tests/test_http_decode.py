"""How answers are decoded: ``HttpClient.get_json`` against a real local HTTP server, and
GitHub's orjson decoder against the standard one."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import given, settings, strategies as st

from connectors.github.client import decode_json
from net.http import BadResponse, HttpClient
from tests.fake_clock import FakeClock


@pytest.fixture
def client(httpserver):
    clock = FakeClock(0)
    c = HttpClient(base_url=httpserver.url_for("/"), source="test", clock=clock)
    yield c
    c.close()


def test_utf8_json_is_decoded(httpserver, client):
    httpserver.expect_request("/x").respond_with_data(
        '[{"title": "Größe ✓", "n": 1}]'.encode(), content_type="application/json")
    body, resp = client.get_json("/x")
    assert body == [{"title": "Größe ✓", "n": 1}]
    assert resp.status_code == 200


def test_a_declared_latin1_body_is_read_in_its_charset(httpserver, client):
    # a server declaring another charset still gets its text right
    httpserver.expect_request("/x").respond_with_data(
        '{"name": "Müller"}'.encode("latin-1"),
        content_type="application/json; charset=iso-8859-1")
    body, _ = client.get_json("/x")
    assert body == {"name": "Müller"}


def test_integers_beyond_64_bits_survive(httpserver, client):
    httpserver.expect_request("/x").respond_with_data(
        '{"id": 123456789012345678901234567890}', content_type="application/json")
    body, _ = client.get_json("/x")
    assert body == {"id": 123456789012345678901234567890}


def test_a_body_that_stays_cut_off_is_one_clear_error(httpserver, client):
    httpserver.expect_request("/x").respond_with_data(
        b'[{"number": 1, "title": "cut', content_type="application/json")
    with pytest.raises(BadResponse, match="was cut off or not JSON"):
        client.get_json("/x")
    assert client.requests_made == 3  # fetched again twice before giving up
    assert client.clock.sleeps == [1.0, 2.0]  # the shared backoff, none after the last try


# --- GitHub's faster decoder -------------------------------------------------------------------

def response(body: bytes, content_type: str = "application/json; charset=utf-8"):
    resp = requests.Response()
    resp.status_code = 200
    resp._content = body
    resp.headers["Content-Type"] = content_type
    resp.encoding = requests.utils.get_encoding_from_headers(resp.headers)
    return resp


# JSON as GitHub sends it: integers within int64 (its OpenAPI format), any text.
github_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(github_json)
def test_github_decoder_reads_what_the_standard_decoder_reads(value):
    body = json.dumps(value, ensure_ascii=False).encode()
    assert decode_json(response(body)) == json.loads(body)


def test_github_decoder_honours_a_declared_charset():
    body = '{"name": "Müller"}'.encode("latin-1")
    assert decode_json(response(body, "application/json; charset=iso-8859-1")) == {
        "name": "Müller"}


def test_github_decoder_rejects_a_cut_off_body_as_bad_json():
    with pytest.raises(ValueError):
        decode_json(response(b'[{"number": 1, "title": "cut'))
