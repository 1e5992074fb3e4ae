"""Sign-in end to end: Chromium, a real OpenID Connect provider, the real launcher and server.

The provider is oidc-provider-mock on a free port (its authorize page asks for a subject and
has an Authorize button; its logout asks to confirm "End session"). The dashboard runs through
`python -m ui.launch` in a temporary folder holding .streamlit/secrets.toml ([auth] pointing at
the provider) and readiness.toml = the demo configuration plus

    [access]
    emails = ["ana@example.com"]

so, by the README's rules: ana enters, eve@elsewhere.example is denied, a visitor not signed
in sees only the sign-in page — the deep link to a release included — and signing out
leaves the sign-in page with no trace of who was signed in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import need
from pages_support import ROOT, demo_available, load_demo_db
from test_browser import CHROMIUM_ARGS, _free_port, _settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

USERS = [{"sub": "ana", "email": "ana@example.com", "email_verified": True},
         {"sub": "eve", "email": "eve@elsewhere.example", "email_verified": True}]


def _wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer in time")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def chromium_path() -> str:
    from pathlib import Path

    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(path).exists():
        need("chromium", f"Chromium not found at {path}: apt-get install -y chromium "
                         "(or set CHROMIUM_PATH)")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory, chromium_path):
    """(dashboard URL, provider process) — both real servers on free ports."""
    tmp = tmp_path_factory.mktemp("signin")
    idp_port, app_port = _free_port(), _free_port()
    logs = []
    idp_log = (tmp / "idp.log").open("w")
    logs.append(idp_log)
    idp = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port",
         str(idp_port), *[a for u in USERS for a in ("--user-claims", json.dumps(u))]],
        stdout=idp_log, stderr=subprocess.STDOUT, start_new_session=True)
    procs = [idp]
    try:
        issuer = f"http://127.0.0.1:{idp_port}"
        _wait_http(f"{issuer}/.well-known/openid-configuration", idp, "the provider")
        (tmp / ".streamlit").mkdir()
        (tmp / ".streamlit" / "secrets.toml").write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
            f'cookie_secret = "{"e2e-cookie-secret-" * 3}"\n'
            'client_id = "shipready"\nclient_secret = "e2e-client-secret"\n'
            f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n')
        (tmp / "readiness.toml").write_text(
            (ROOT / "data" / "demo.toml").read_text() + '\n[access]\nemails = ["ana@example.com"]\n')
        url = (load_demo_db(tmp / "demo.db", scale=0.05) if demo_available()
               else f"sqlite:///{tmp / 'empty.db'}")
        env = {k: v for k, v in os.environ.items()
               if k not in ("ALLOW_ANONYMOUS", "READINESS_CONFIG")}
        env.update(DATABASE_URL=url, HOME=str(tmp), PYTHONPATH=str(ROOT))
        app_log = (tmp / "app.log").open("w")
        logs.append(app_log)
        app = subprocess.Popen(
            [sys.executable, "-m", "ui.launch", "--host", "127.0.0.1", "--port", str(app_port),
             "--", "--server.fileWatcherType", "none"],
            cwd=tmp, env=env, stdout=app_log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(app)
        _wait_http(f"http://127.0.0.1:{app_port}/_stcore/health", app, "the dashboard")
        yield f"http://127.0.0.1:{app_port}"
    finally:
        for proc in procs:
            _stop(proc)
        for log in logs:
            log.close()


def _sign_in(page, base: str, subject: str, path: str = "") -> None:
    page.goto(base + path, wait_until="domcontentloaded")
    _settle(page)
    page.get_by_role("button", name="Sign in with 127.0.0.1").click()
    page.wait_for_selector('input[name="sub"]', timeout=30_000)
    page.fill('input[name="sub"]', subject)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(base + "/**", timeout=30_000)
    _settle(page)


def _sign_out(page, base: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    # The provider asks to confirm the end of its session, then sends us back.
    end = page.get_by_role("button", name="End session")
    end.wait_for(timeout=30_000)
    end.click()
    page.wait_for_url(base + "/**", timeout=30_000)
    _settle(page)


def _body(page) -> str:
    return page.locator('[data-testid="stApp"]').inner_text()


def test_sign_in_page_deep_link_allowed_denied_and_sign_out(site, chromium_path):
    from playwright.sync_api import sync_playwright

    base = site
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1600})
            # A deep link, signed out: the sign-in page only, no navigation, no data.
            page.goto(base + "/readiness?release=2.4&project=PAY", wait_until="domcontentloaded")
            _settle(page)
            page.get_by_role("button", name="Sign in with 127.0.0.1").wait_for(timeout=30_000)
            body = _body(page)
            assert "Sign in" in body and "Gates" not in body and "PAY" not in body
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0
            assert page.locator('[data-testid="stException"]').count() == 0

            # ana is listed: she sees the dashboard, her address in the sidebar.
            _sign_in(page, base, "ana")
            page.get_by_text("Signed in as", exact=False).first.wait_for(timeout=30_000)
            assert "ana@example.com" in _body(page)
            nav = page.locator('[data-testid="stSidebarNav"]')
            nav.get_by_role("link", name="Readiness").first.click()
            _settle(page)
            page.get_by_text("Gates", exact=True).first.wait_for(timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            # Signing out: back to the sign-in page, nothing of ana's left on it.
            _sign_out(page, base)
            page.get_by_role("button", name="Sign in with 127.0.0.1").wait_for(timeout=30_000)
            body = _body(page)
            assert "ana@example.com" not in body and "Gates" not in body
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0

            # eve is not listed: access denied, with her address and a way out.
            _sign_in(page, base, "eve")
            page.get_by_text("Access denied").first.wait_for(timeout=30_000)
            body = _body(page)
            assert "eve@elsewhere.example" in body and "not listed in [access]" in body
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0
            _sign_out(page, base)
            page.get_by_role("button", name="Sign in with 127.0.0.1").wait_for(timeout=30_000)
            assert "eve@elsewhere.example" not in _body(page)
        finally:
            browser.close()
