"""Every page behind the router's door, with AppTest's ``at.user`` (README "Sign-in").

The app runs on the demo organisation with readiness.toml = the demo's own configuration plus

    [access]
    emails  = ["ana@example.com"]
    domains = ["partner.example"]
    admins  = ["boss@example.com"]

and ``[auth]`` given through ``at.secrets``, its ``server_metadata_url`` a real local HTTP
server answering a discovery document. Expected per visitor, from the rules:

- signed out (no ``is_logged_in``, or false) → the sign-in page only, whatever page is asked;
- eve@elsewhere.example → not listed, domain not listed → "Access denied" with her address;
- ana@example.com (listed), lee@partner.example (domain) → every page, no admin controls;
- lee@sub.partner.example → denied: a domain matches exactly, not its subdomains;
- boss@example.com → every page and the admin controls; a waiver records boss@example.com.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from data import schema
from data.config import load_settings
from metrics.readiness import evaluate_release
from pages_support import APP, ROOT, TIMEOUT

PAGES = ["pages/home.py", "pages/readiness.py", "pages/sprint.py", "pages/quality.py",
         "pages/delivery.py", "pages/data_sources.py"]
TITLES = ["ShipReady", "Readiness", "Sprint", "Quality", "Delivery", "Data sources"]
ACCESS = """
[access]
emails = ["ana@example.com"]
domains = ["partner.example"]
admins = ["boss@example.com"]
"""
ADMIN_BUTTONS = {"Reload demo", "Remove demo", "Sync all"}


@pytest.fixture
def provider(httpserver):
    """A discovery document on a real local server: the sign-in page probes it."""
    base = httpserver.url_for("/").rstrip("/")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json({
        "issuer": base, "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": f"{base}/oauth2/token", "jwks_uri": f"{base}/jwks"})
    return f"{base}/.well-known/openid-configuration"


def auth_section(metadata_url: str, **extra) -> dict:
    return {"redirect_uri": "http://127.0.0.1:8501/oauth2callback",
            "cookie_secret": "c" * 40, "client_id": "shipready", "client_secret": "s3cret-value",
            "server_metadata_url": metadata_url, **extra}


@pytest.fixture
def team(demo, tmp_path):
    """The demo database and readiness.toml = demo configuration + [access]."""
    (tmp_path / "readiness.toml").write_text(
        (ROOT / "data" / "demo.toml").read_text() + ACCESS)
    return demo


def open_app(auth: dict | None, user: dict | None, page: str | None = None,
             query: dict | None = None, *, before_run=None) -> AppTest:
    """The app as ``user`` sees it on ``page``. AppTest can only switch to a registered page,
    so a deep link is played as a session already on ``page`` (opened by the laptop user:
    loopback, no sign-in) whose next run comes with the visitor's identity and [auth] — the
    run a link pasted into a new tab makes, with the page in the URL."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if page:
        at.run()
        at.switch_page(page)
    if auth is not None:
        at.secrets["auth"] = auth
    if user is not None:
        at.user = user
    if before_run:
        before_run()
    at.run()
    assert not at.exception, at.exception
    return at


def signed_in(email: str, **claims) -> dict:
    return {"is_logged_in": True, "email": email, **claims}


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "error",
                                  "warning", "success") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def shows_sign_in_only(at: AppTest) -> bool:
    labels = [b.label for b in at.button]
    return ([h.value for h in at.subheader] == ["Sign in"]
            and labels == ["Sign in with localhost"] and not at.dataframe
            and not any(t.value.startswith("🚦 Readiness") for t in at.title))


@pytest.mark.parametrize("page", PAGES)
def test_a_signed_out_visitor_sees_only_the_sign_in_page(team, provider, page):
    at = open_app(auth_section(provider), {"is_logged_in": False}, page,
                  query={"release": "2.4", "project": "PAY"})
    assert shows_sign_in_only(at), texts(at)


def test_a_deep_link_without_is_logged_in_is_signed_out(team, provider):
    # AppTest's default user has an email but no is_logged_in: an email alone is no sign-in.
    at = open_app(auth_section(provider), None, "pages/readiness.py")
    assert shows_sign_in_only(at), texts(at)


@pytest.mark.parametrize("email, page", [
    *[("eve@elsewhere.example", page) for page in PAGES],
    ("lee@sub.partner.example", "pages/readiness.py"),
])
def test_an_account_not_allowed_sees_access_denied_with_its_email(team, provider, email, page):
    reason = "this address is not listed in [access] of readiness.toml"
    at = open_app(auth_section(provider), signed_in(email), page,
                  query={"release": "2.4", "project": "PAY"})
    text = texts(at)
    assert "Access denied" in [h.value for h in at.subheader]
    assert email in text and reason in text
    assert [b.label for b in at.button] == ["Sign out"]
    assert not at.dataframe and "Readiness" not in [t.value for t in at.title]


def test_an_unverified_email_is_denied_even_when_listed(team, provider):
    at = open_app(auth_section(provider), signed_in("ana@example.com", email_verified=False))
    assert "not verified" in texts(at)
    assert "Access denied" in [h.value for h in at.subheader]


def test_signing_out_from_access_denied_leaves_the_sign_in_page(team, provider):
    at = open_app(auth_section(provider), signed_in("eve@elsewhere.example"))
    next(b for b in at.button if b.label == "Sign out").click().run()
    at.run()  # the browser comes back from /auth/logout: a new run, signed out
    assert not at.exception, at.exception
    assert shows_sign_in_only(at), texts(at)
    assert "eve@elsewhere.example" not in texts(at)


@pytest.mark.parametrize("email", ["ana@example.com", "Lee@Partner.Example"])
@pytest.mark.parametrize("page, title", list(zip(PAGES, TITLES)))
def test_an_allowed_member_sees_the_page_without_admin_controls(team, provider, email, page,
                                                                title):
    at = open_app(auth_section(provider), signed_in(email, email_verified=True), page,
                  query={"release": "2.4", "project": "PAY"})  # PAY 2.4 has gates to waive
    assert any(title in t.value for t in at.title), texts(at)
    if page == "pages/readiness.py":
        assert "Only an admin can waive a gate." in texts(at)
    labels = {b.label for b in at.button}
    assert not labels & ADMIN_BUTTONS and not any(lb.startswith("Sync ") for lb in labels)
    assert "Waive" not in labels  # the waive form is for admins only


def _signed_in(at) -> list[str]:
    """The sidebar's account line (the data ages are captions there too: ui/freshness.py)."""
    return [c.value for c in at.sidebar.caption if c.value.startswith("Signed in")]


def test_the_sidebar_names_who_is_signed_in_and_offers_sign_out(team, provider):
    # Clicking it is played in Chromium (tests/test_browser_signin.py): AppTest runs a page
    # without the router after the first run (the pages/ folder), so the router's own
    # sidebar button cannot be clicked here.
    at = open_app(auth_section(provider), signed_in("Lee@Partner.Example"))
    assert any(t.value == "🚦 ShipReady" for t in at.title)  # Home, through the router
    assert _signed_in(at) == ["Signed in as **lee@partner.example**"]
    assert [b.label for b in at.sidebar.button] == ["Sign out"]


def test_an_admin_is_named_as_one_in_the_sidebar(team, provider):
    at = open_app(auth_section(provider), signed_in("boss@example.com"))
    assert _signed_in(at) == ["Signed in as **boss@example.com** · admin"]


def test_a_member_on_data_sources_is_told_who_may_sync(team, provider):
    at = open_app(auth_section(provider), signed_in("ana@example.com"),
                  "pages/data_sources.py")
    assert "Only an admin" in texts(at)


def test_an_admin_sees_the_admin_controls(team, provider):
    at = open_app(auth_section(provider), signed_in("boss@example.com"),
                  "pages/data_sources.py")
    labels = {b.label for b in at.button}
    assert {"Reload demo", "Remove demo"} <= labels


def test_an_admins_waiver_records_the_signed_in_address(team, provider):
    at = open_app(auth_section(provider), signed_in("boss@example.com"), "pages/readiness.py",
                  query={"release": "2.4", "project": "PAY"})
    assert not [t for t in at.text_input if t.key == "waive_by"]  # no free-text "by"
    with team.connect() as conn:
        rid = conn.execute(select(schema.releases.c.id).where(
            schema.releases.c.project == "PAY", schema.releases.c.name == "2.4")).scalar_one()
    with team.connect() as conn:
        ev = evaluate_release(conn, load_settings(), rid)
    gate = next(g.gate.id for g in ev.gates if g.status == "FAIL")
    at.selectbox(key="waive_gate").select(gate)
    at.text_input(key="waive_reason").input("hotfix planned")
    next(b for b in at.button if b.label == "Waive").click()
    at.run()
    assert not at.exception, at.exception
    with team.connect() as conn:
        rows = conn.execute(select(schema.gate_waivers.c.reason, schema.gate_waivers.c.waived_by)
                            .where(schema.gate_waivers.c.release_id == rid)).all()
    assert [tuple(r) for r in rows] == [("hotfix planned", "boss@example.com")]


def test_with_auth_and_no_access_section_nobody_but_admins_enters(demo, provider):
    # No readiness.toml at all (demo settings): no [access], hence no admins: nobody enters.
    at = open_app(auth_section(provider), signed_in("ana@example.com"))
    assert "Access denied" in [h.value for h in at.subheader]
    assert "no [access] list yet" in texts(at)


@pytest.mark.parametrize("auth, says", [
    ({"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "short",
      "client_id": "x", "client_secret": "y", "server_metadata_url": "http://x/"},
     "'cookie_secret' should be a random text of at least 32 characters"),
    ({"redirect_uri": "http://127.0.0.1:8501/", "cookie_secret": "c" * 40, "client_id": "x",
      "client_secret": "y", "server_metadata_url": "http://x/"},
     "'redirect_uri' should end with /oauth2callback"),
    ({"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "c" * 40,
      "client_id": "x"}, "[auth] needs client_secret, server_metadata_url"),
])
def test_a_broken_auth_section_is_one_line_and_the_door_stays_shut(team, auth, says):
    at = open_app(auth, signed_in("boss@example.com"), "pages/readiness.py")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and says in errors[0] and "\n" not in errors[0], errors
    assert not at.button and not at.dataframe
    assert "c" * 40 not in errors[0]


def test_a_malformed_allow_list_is_one_line_and_the_door_stays_shut(demo, provider, tmp_path):
    (tmp_path / "readiness.toml").write_text('[access]\nemails = ["ana"]\n')
    at = open_app(auth_section(provider), signed_in("ana@example.com"), "pages/home.py")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "'access.emails' should list email addresses" in errors[0]
    assert not at.button and not at.dataframe


def test_an_unreachable_provider_is_one_line_and_no_sign_in_button(team):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
    at = open_app(auth_section(url), {"is_logged_in": False})
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and f"the sign-in provider at 127.0.0.1:{port} cannot be " \
                                "reached" in errors[0], errors
    assert [b.label for b in at.button] == ["Try again"]


def test_no_sign_in_on_a_network_address_opens_to_nobody(team, monkeypatch):
    from streamlit import config

    monkeypatch.delenv("ALLOW_ANONYMOUS", raising=False)
    at = open_app(None, None, "pages/readiness.py",
                  before_run=lambda: config.set_option("server.address", "0.0.0.0"))
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "ALLOW_ANONYMOUS=1" in errors[0]
    assert not at.button and not at.dataframe


def test_anonymous_readers_accepted_on_a_network_address_are_not_admins(team, monkeypatch):
    from streamlit import config

    monkeypatch.setenv("ALLOW_ANONYMOUS", "1")
    at = open_app(None, None, "pages/data_sources.py",
                  before_run=lambda: config.set_option("server.address", "0.0.0.0"))
    assert any("Data sources" in t.value for t in at.title)
    labels = {b.label for b in at.button}
    assert not labels & ADMIN_BUTTONS and "Sign out" not in labels


def test_the_laptop_user_without_sign_in_is_an_admin(team):
    # make run: 127.0.0.1, no [auth] — whatever [access] says, the one user is an admin.
    at = open_app(None, None, "pages/data_sources.py")
    assert {"Reload demo", "Remove demo"} <= {b.label for b in at.button}
