"""Who may enter the dashboard, and who may change things: one pure decision.

The rules (README "Sign-in"):

- Sign-in not configured (no ``[auth]`` in ``.streamlit/secrets.toml``): on a loopback address
  the one person at the keyboard is an admin, as on a laptop; on any other address the door is
  closed unless the operator accepted anonymous access (``ALLOW_ANONYMOUS=1``), and then
  visitors may read every page but are not admins — nobody is known, so nobody may sync,
  reload the demo or waive a gate.
- Sign-in configured: a visitor not signed in is sent to sign in. A signed-in account enters
  when its email address is listed in ``[access] admins`` (admins) or ``emails``, or its domain
  is exactly one of ``[access] domains``. No ``[access]`` means no admins, so nobody enters:
  never "any account of the provider". Where the provider sends ``email_verified``, it must be
  true; an account without an email address does not enter.

No Streamlit here: the router (ui/gate.py) reads the claims and the addresses and calls
:func:`decide`; the launcher (ui/launch.py) calls :func:`is_loopback`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from data.config import AccessSettings

Outcome = Literal["enter", "sign_in", "denied", "closed"]


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the page. ``email`` is None when nobody is signed in (sign-in not
    configured); it is what a waiver records as who waived."""

    email: str | None
    is_admin: bool

    @property
    def signed_in(self) -> bool:
        return self.email is not None


@dataclass(frozen=True)
class Decision:
    """``enter`` carries the viewer; ``denied`` the email shown (None when the provider sent
    none) and why; ``closed`` why the dashboard opens to nobody; ``sign_in`` nothing."""

    outcome: Outcome
    viewer: Viewer | None = None
    email: str | None = None
    reason: str = ""


LAPTOP = Viewer(email=None, is_admin=True)
ANONYMOUS = Viewer(email=None, is_admin=False)


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; an empty address is every interface."""
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # another host name: where it points is not ours to guess
        return False


def _verified(claims: Mapping[str, Any]) -> bool:
    if "email_verified" not in claims:
        return True  # the provider does not say (Entra ID); the address is its own word
    value = claims["email_verified"]
    # Some providers (Cognito among them) send the JSON string "true" instead of a boolean.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def decide(*, sign_in: bool, loopback: bool, anonymous_accepted: bool,
           claims: Mapping[str, Any], access: AccessSettings) -> Decision:
    """The one access decision for a page request.

    ``sign_in``: an ``[auth]`` section is configured (and valid); ``loopback``: the server
    listens on a loopback address only; ``anonymous_accepted``: the operator set
    ``ALLOW_ANONYMOUS=1`` (or ``--allow-anonymous``); ``claims``: ``st.user`` as a mapping —
    the ID token's claims plus ``is_logged_in``; ``access``: ``[access]`` of readiness.toml.
    """
    if not sign_in:
        if loopback:
            return Decision("enter", LAPTOP)
        if anonymous_accepted:
            return Decision("enter", ANONYMOUS)
        return Decision("closed", reason=(
            "this dashboard listens on a network address without sign-in; configure [auth] "
            "in .streamlit/secrets.toml (README: Sign-in), serve on 127.0.0.1, or accept "
            "anonymous readers with ALLOW_ANONYMOUS=1"))
    if claims.get("is_logged_in") is not True:
        return Decision("sign_in")
    raw = claims.get("email")
    if not isinstance(raw, str) or "@" not in raw.strip():
        return Decision("denied", reason="the sign-in provider sent no email address for this "
                                         "account, so it cannot be matched against [access]")
    email = raw.strip().lower()
    if not _verified(claims):
        return Decision("denied", email=email,
                        reason="the sign-in provider says this email address is not verified")
    is_admin = email in access.admins
    domain = email.rpartition("@")[2]
    if is_admin or email in access.emails or domain in access.domains:
        return Decision("enter", Viewer(email=email, is_admin=is_admin))
    if not (access.admins or access.emails or access.domains):
        why = "readiness.toml has no [access] list yet, so nobody may enter"
    else:
        why = "this address is not listed in [access] of readiness.toml"
    return Decision("denied", email=email, reason=why)
