"""The access decision (data/access.py) and the [auth] checks (ui/signin.py), by hand.

One allow-list for the whole table:

    emails  = ["ana@example.com"]      domains = ["partner.example"]
    admins  = ["boss@example.com"]

Each row says who asks, and what the README's rules give — worked out from the rules, not
from running the code.
"""

from __future__ import annotations

import pytest

from data.access import ANONYMOUS, LAPTOP, Viewer, decide, is_loopback
from data.config import AccessSettings
from ui import signin

ACCESS = AccessSettings(emails=["ana@example.com"], domains=["partner.example"],
                        admins=["boss@example.com"])


def user(email, **claims):
    return {"is_logged_in": True, "email": email, **claims}


@pytest.mark.parametrize("claims, outcome, viewer", [
    # not signed in: is_logged_in missing, false, or anything but the boolean true
    ({}, "sign_in", None),
    ({"is_logged_in": False, "email": "boss@example.com"}, "sign_in", None),
    ({"is_logged_in": "true", "email": "boss@example.com"}, "sign_in", None),
    # listed address, any case; the viewer's address is kept in lower case
    (user("ana@example.com"), "enter", Viewer("ana@example.com", False)),
    (user("ANA@Example.COM"), "enter", Viewer("ana@example.com", False)),
    # the domain, exactly: not a subdomain, not a look-alike suffix
    (user("lee@partner.example"), "enter", Viewer("lee@partner.example", False)),
    (user("lee@eu.partner.example"), "denied", None),
    (user("lee@evilpartner.example"), "denied", None),
    (user("partner.example@evil.example"), "denied", None),
    # admins are always allowed, even outside emails and domains
    (user("boss@example.com"), "enter", Viewer("boss@example.com", True)),
    # example.com itself is not a listed domain: only ana and boss of it enter
    (user("eve@example.com"), "denied", None),
    # email_verified: absent is the provider's silence; false (or "false") denies
    (user("ana@example.com", email_verified=True), "enter", Viewer("ana@example.com", False)),
    (user("ana@example.com", email_verified="true"), "enter",
     Viewer("ana@example.com", False)),
    (user("ana@example.com", email_verified=False), "denied", None),
    (user("boss@example.com", email_verified="false"), "denied", None),
    (user("boss@example.com", email_verified=None), "denied", None),
    # no usable address
    ({"is_logged_in": True, "name": "Ana"}, "denied", None),
    (user(""), "denied", None),
    (user(["ana@example.com"]), "denied", None),
])
def test_with_sign_in(claims, outcome, viewer):
    d = decide(sign_in=True, loopback=True, anonymous_accepted=False, claims=claims,
               access=ACCESS)
    assert (d.outcome, d.viewer) == (outcome, viewer)


def test_denied_says_whom_and_why():
    d = decide(sign_in=True, loopback=False, anonymous_accepted=False,
               claims=user("Eve@Elsewhere.example"), access=ACCESS)
    assert (d.email, d.reason) == ("eve@elsewhere.example",
                                   "this address is not listed in [access] of readiness.toml")
    d = decide(sign_in=True, loopback=False, anonymous_accepted=False,
               claims=user("ana@example.com", email_verified=False), access=ACCESS)
    assert d.reason == "the sign-in provider says this email address is not verified"


@pytest.mark.parametrize("email", ["ana@example.com", "boss@example.com", "x@partner.example"])
def test_with_sign_in_and_no_access_section_nobody_enters(email):
    d = decide(sign_in=True, loopback=True, anonymous_accepted=True, claims=user(email),
               access=AccessSettings())
    assert d.outcome == "denied"
    assert d.reason == "readiness.toml has no [access] list yet, so nobody may enter"


@pytest.mark.parametrize("loopback, accepted, outcome, viewer", [
    (True, False, "enter", LAPTOP),       # make run: the one user is an admin
    (True, True, "enter", LAPTOP),
    (False, True, "enter", ANONYMOUS),    # accepted: everyone reads, nobody administers
    (False, False, "closed", None),       # never an open door
])
def test_without_sign_in(loopback, accepted, outcome, viewer):
    # Claims are ignored without sign-in: an identity nobody verified proves nothing.
    d = decide(sign_in=False, loopback=loopback, anonymous_accepted=accepted,
               claims=user("boss@example.com"), access=ACCESS)
    assert (d.outcome, d.viewer) == (outcome, viewer)
    assert LAPTOP.is_admin and not ANONYMOUS.is_admin


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LOCALHOST", True),
    ("0.0.0.0", False), ("::", False), ("", False), (None, False), ("10.0.0.5", False),
    ("192.168.1.2", False), ("dashboard.internal", False), ("localhost.evil.example", False),
    ("128.0.0.1", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


# --- [auth] -----------------------------------------------------------------------------------
GOOD = {"redirect_uri": "https://ship.example/oauth2callback", "cookie_secret": "k" * 32,
        "client_id": "id", "client_secret": "TOPSECRET",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}


def test_no_auth_section_is_no_sign_in():
    assert signin.providers(None) == []


def test_default_and_named_providers():
    assert signin.providers(GOOD) == [
        signin.Provider(None, "https://idp.example/.well-known/openid-configuration")]
    named = {"redirect_uri": GOOD["redirect_uri"], "cookie_secret": "k" * 32,
             "okta": {"client_id": "a", "client_secret": "b",
                      "server_metadata_url": "https://acme.okta.com/.well-known/openid-configuration"},
             "microsoft": {"client_id": "a", "client_secret": "b",
                           "server_metadata_url": "https://login.microsoftonline.com/t/v2.0/"
                                                  ".well-known/openid-configuration"}}
    assert [(p.name, p.label) for p in signin.providers(named)] == [
        ("okta", "Okta"), ("microsoft", "Microsoft")]


@pytest.mark.parametrize("change, message", [
    ({"redirect_uri": None}, "[auth] 'redirect_uri' should be an absolute http(s) URL"),
    ({"redirect_uri": "/oauth2callback"},
     "[auth] 'redirect_uri' should be an absolute http(s) URL, got '/oauth2callback'"),
    ({"redirect_uri": "https://ship.example/"},
     "[auth] 'redirect_uri' should end with /oauth2callback (e.g. https://HOST/oauth2callback), "
     "got 'https://ship.example/'"),
    ({"cookie_secret": "k" * 31},
     "[auth] 'cookie_secret' should be a random text of at least 32 characters "
     "(python -c 'import secrets; print(secrets.token_hex(32))')"),
    ({"cookie_secret": None}, "[auth] 'cookie_secret' should be a random text of at least 32"),
    ({"client_secret": None}, "[auth] needs client_secret (text)"),
    ({"client_secret": "", "client_id": 5}, "[auth] needs client_id, client_secret (text)"),
    ({"server_metadata_url": "ftp://idp.example/x"},
     "[auth] 'server_metadata_url' should be an absolute http(s) URL, got 'ftp://idp.example/x'"),
    ({"server_metadata_url": "https://me:pw@idp.example/x"},
     "[auth] 'server_metadata_url' holds user:password@ — a sign-in URL needs no credentials"),
    ({"client_id": None, "client_secret": None, "server_metadata_url": None},
     "[auth] names no provider"),
    ({"bad_name": {"client_id": "a"}}, "[auth.bad_name]: a provider name may not contain '_'"),
    ({"okta": {"client_id": "a"}}, "[auth.okta] needs client_secret, server_metadata_url"),
])
def test_a_broken_auth_section_is_one_line_without_secrets(change, message):
    section = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(signin.SignInConfigError) as exc:
        signin.providers(section)
    text = str(exc.value)
    assert text.startswith(message) and "\n" not in text
    assert "TOPSECRET" not in text and "k" * 31 not in text and "pw@" not in text


def test_auth_not_a_table():
    with pytest.raises(signin.SignInConfigError, match=r"^\[auth\] must be a table$"):
        signin.providers("yes")


def test_secrets_files_later_wins_and_a_broken_file_is_one_line(tmp_path):
    home, local = tmp_path / "home.toml", tmp_path / "local.toml"
    home.write_text('[auth]\nredirect_uri = "https://a/oauth2callback"\n')
    local.write_text('[auth]\nredirect_uri = "https://b/oauth2callback"\n')
    assert signin.read_auth_section([home, local])["redirect_uri"] == "https://b/oauth2callback"
    assert signin.read_auth_section([tmp_path / "missing.toml"]) is None
    local.write_text('GITHUB_TOKEN = "x"\n')  # a secrets file without [auth]
    assert signin.read_auth_section([local]) is None
    local.write_text('[auth\nredirect_uri = 1\n')
    with pytest.raises(signin.SignInConfigError) as exc:
        signin.read_auth_section([home, local])
    assert str(exc.value).startswith(f"{local}: not valid TOML (")


def test_probe_of_a_closed_port_and_of_a_page_that_is_no_discovery_document(httpserver):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert signin.probe(f"http://127.0.0.1:{port}/x", timeout=2).startswith(
        f"the sign-in provider at 127.0.0.1:{port} cannot be reached (")
    httpserver.expect_request("/html").respond_with_data("<html></html>")
    httpserver.expect_request("/json").respond_with_json({"issuer": "x"})
    httpserver.expect_request("/ok").respond_with_json({"authorization_endpoint": "http://a/"})
    host = f"localhost:{httpserver.port}"
    assert signin.probe(httpserver.url_for("/html")) == \
        f"the sign-in provider at {host} did not answer with an OpenID configuration"
    assert signin.probe(httpserver.url_for("/json")) == \
        f"the sign-in provider at {host} did not answer with an OpenID configuration"
    assert signin.probe(httpserver.url_for("/missing")) == \
        f"the sign-in provider at {host} answered 500 for its OpenID configuration"
    assert signin.probe(httpserver.url_for("/ok")) is None


# --- [access] in readiness.toml -------------------------------------------------------------
@pytest.mark.parametrize("body, message", [
    ('emails = ["ana"]',
     "'access.emails' should list email addresses such as ana@example.com, got 'ana'"),
    ('admins = ["boss@example.com", "boss @example.com"]',
     "'access.admins' should list email addresses such as ana@example.com, got "
     "'boss @example.com'"),
    ('domains = ["*.example.com"]',
     "'access.domains' should list bare domains such as example.com (no @, no *, no leading "
     "dot), got '*.example.com'"),
    ('domains = [".example.com"]', "'access.domains' should list bare domains"),
    ('domains = ["@example.com"]', "'access.domains' should list bare domains"),
    ('domains = ["example"]', "'access.domains' should list bare domains"),
    ('admins = "boss@example.com"',
     "'access.admins' should be a list of email addresses, got str 'boss@example.com'"),
    ('admin = ["boss@example.com"]',
     "unknown key 'access.admin' (known keys: admins, domains, emails)"),
])
def test_a_malformed_allow_list_is_one_line_naming_file_and_key(tmp_path, body, message):
    from data.config import ConfigError, load_settings

    path = tmp_path / "readiness.toml"
    path.write_text(f"[access]\n{body}\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert str(exc.value).startswith(f"{path}: {message}") and "\n" not in str(exc.value)


def test_the_allow_list_is_kept_in_lower_case(tmp_path):
    from data.config import load_settings

    path = tmp_path / "readiness.toml"
    path.write_text('[access]\nemails = [" Ana@Example.com "]\ndomains = ["Partner.EXAMPLE"]\n'
                    'admins = ["Boss@example.com"]\n')
    assert load_settings(path).access == AccessSettings(
        emails=["ana@example.com"], domains=["partner.example"], admins=["boss@example.com"])
    path.write_text("[app]\n")
    assert load_settings(path).access == AccessSettings()  # no [access]: nobody listed
