"""The door of every page: the router calls :func:`enter` before it builds the navigation.

Who may enter is decided by :func:`data.access.decide` (pure, README "Sign-in"); this module
only gathers its inputs — the ``[auth]`` section, ``st.user``, ``[access]``, the address the
server listens on — and draws the one page a visitor who may not enter sees: sign in, access
denied, or one line saying what is misconfigured. Such a run registers that page alone and
stops, so no other page (and no deep link to one) runs for that visitor.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from data.access import ANONYMOUS, Decision, Viewer, decide, is_loopback
from ui import signin
from ui.widgets import md_escape

PROBE_TTL = 30.0  # seconds a provider probe is trusted; a sign-in page is opened rarely
_probes: dict[str, tuple[float, str | None]] = {}


def anonymous_accepted() -> bool:
    """``ALLOW_ANONYMOUS=1`` (the launcher sets it for ``--allow-anonymous``)."""
    return os.environ.get("ALLOW_ANONYMOUS", "").strip() == "1"


def auth_section() -> Mapping[str, Any] | None:
    """``[auth]`` as Streamlit sees it (``st.secrets``; AppTest's ``at.secrets`` too).

    Streamlit treats a secrets file it cannot parse like no file, which would turn sign-in
    off; so when it finds nothing, the files are read again here and a parse error is a
    :class:`ui.signin.SignInConfigError`, never "no sign-in"."""
    from streamlit.errors import StreamlitSecretNotFoundError

    try:
        return st.secrets.to_dict().get("auth")
    except StreamlitSecretNotFoundError:
        return signin.read_auth_section(st.get_option("secrets.files"))


def _decide() -> tuple[Decision, list[signin.Provider]]:
    """The decision for this run. Raises SignInConfigError or ConfigError (one line each)
    when [auth] or — with sign-in on — readiness.toml is broken."""
    from data.config import AccessSettings

    providers = signin.providers(auth_section())
    access = AccessSettings()
    if providers:
        from ui import db

        access = db.settings().access
    decision = decide(sign_in=bool(providers),
                      loopback=is_loopback(st.get_option("server.address")),
                      anonymous_accepted=anonymous_accepted(),
                      claims=_claims(), access=access)
    return decision, providers


def viewer() -> Viewer:
    """Who is looking, decided afresh on every call (never carried over from an earlier run);
    anyone not let in is an anonymous non-admin."""
    from data.config import ConfigError

    try:
        decision, _ = _decide()
    except (signin.SignInConfigError, ConfigError):
        return ANONYMOUS
    return decision.viewer if decision.outcome == "enter" and decision.viewer else ANONYMOUS


def admitted() -> bool:
    """Whether this run's visitor may see pages at all (ui.ensure_router asks)."""
    from data.config import ConfigError

    try:
        return _decide()[0].outcome == "enter"
    except (signin.SignInConfigError, ConfigError):
        return False


def enter() -> Viewer:
    """The viewer this run serves, or — for anyone who may not enter — the sign-in, denied or
    misconfiguration page, and the run stops there."""
    from data.config import ConfigError

    try:
        decision, providers = _decide()
    except signin.SignInConfigError as exc:
        message = f"Sign-in is misconfigured, so the dashboard stays closed: {exc}"
        _only_page("Sign-in error", lambda: st.error(message, icon="🔒"))
    except ConfigError as exc:
        message = f"The dashboard stays closed until readiness.toml is fixed: {exc}"
        _only_page("Configuration error", lambda: st.error(message, icon="🔒"))
    if decision.outcome == "enter" and decision.viewer is not None:
        return decision.viewer
    if decision.outcome == "sign_in":
        _only_page("Sign in", lambda: _sign_in_page(providers))
    if decision.outcome == "denied":
        _only_page("Access denied", lambda: _denied_page(decision))
    _only_page("Closed", lambda: st.error(f"Closed: {decision.reason}.", icon="🔒"))
    raise AssertionError("unreachable")  # _only_page stops the run


def account_box(who: Viewer) -> None:
    """Who is signed in, and the way out, at the foot of the sidebar."""
    if not who.signed_in:
        return
    box = st.sidebar.container()
    box.caption(f"Signed in as **{md_escape(who.email)}**" + (" · admin" if who.is_admin else ""))
    if box.button("Sign out", key="sign_out"):
        _sign_out()


def _claims() -> dict[str, Any]:
    try:
        return dict(st.user.to_dict())
    except Exception:  # noqa: BLE001 — no identity to read is no identity, never an error
        return {}


def _sign_out() -> None:
    st.logout()
    st.stop()  # st.logout redirects but lets the script go on; nothing more may render


def _only_page(title: str, body: Callable[[], None]) -> None:
    def page() -> None:
        st.title("🚦 ShipReady")
        body()

    st.navigation([st.Page(page, title=title, url_path="welcome", default=True)],
                  position="hidden").run()
    st.stop()


def _probe(url: str) -> str | None:
    now = time.monotonic()
    seen = _probes.get(url)
    if seen is None or now - seen[0] > PROBE_TTL:
        seen = (now, signin.probe(url))
        _probes[url] = seen
    return seen[1]


def _sign_in_page(providers: list[signin.Provider]) -> None:
    st.subheader("Sign in")
    st.caption("This release-readiness dashboard is shared with a team: sign in with your "
               "work account to open it.")
    for provider in providers:
        problem = _probe(provider.metadata_url)
        if problem:
            st.error(f"Sign-in is unavailable: {problem}. Try again in a minute; if it "
                     "persists, check [auth] server_metadata_url.", icon="🔒")
            if st.button("Try again", key=f"retry_{provider.name or 'default'}"):
                _probes.pop(provider.metadata_url, None)
                st.rerun()
            continue
        if st.button(f"Sign in with {provider.label}", key=f"login_{provider.name or 'default'}",
                     type="primary"):
            _login(provider)


def _login(provider: signin.Provider) -> None:
    from streamlit.errors import StreamlitAuthError, StreamlitMissingAuthlibError

    missing = signin.authlib_missing()
    if missing:
        st.error(f"Sign-in is unavailable: {missing}.", icon="🔒")
        return
    try:
        if provider.name:
            st.login(provider.name)
        else:
            st.login()
    except (StreamlitAuthError, StreamlitMissingAuthlibError) as exc:
        # Streamlit's own check of [auth] (e.g. expose_tokens); its message spans lines.
        st.error("Sign-in is misconfigured: " + " ".join(str(exc).split()), icon="🔒")


def _denied_page(decision: Decision) -> None:
    st.subheader("Access denied")
    who = md_escape(decision.email) if decision.email else "this account"
    st.error(f"Signed in as **{who}**: {decision.reason}.", icon="⛔")
    st.caption("Ask whoever runs this dashboard to add your address (or your domain) to "
               "[access] in readiness.toml, or sign out and use another account.")
    if st.button("Sign out", key="sign_out"):
        _sign_out()
