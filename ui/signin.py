"""The ``[auth]`` section of ``.streamlit/secrets.toml``: read, checked, its provider probed.

Streamlit's ``st.login`` reads ``[auth]`` itself (docs.streamlit.io, "User authentication");
this module checks the same section before anyone relies on it, so a broken one is one line
(on the page or at start, README "Sign-in") instead of Streamlit's multi-line exception or
its bare "Authentication error" page. No value of a secret (``cookie_secret``,
``client_secret``) ever appears in a message.

Nothing here imports Streamlit: the launcher uses it before the server starts.
"""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
# A cookie secret signs the identity cookie: a short one can be guessed, and whoever guesses
# it can forge any identity. 32 characters is what `secrets.token_hex(16)` gives.
MIN_COOKIE_SECRET = 32
PROBE_TIMEOUT = 5.0


class SignInConfigError(ValueError):
    """A broken ``[auth]`` section or secrets file, as one line."""


@dataclass(frozen=True)
class Provider:
    """One way to sign in. ``name`` is None for the unnamed default provider (keys directly
    in ``[auth]``), else the ``NAME`` of ``[auth.NAME]``, which ``st.login(NAME)`` takes."""

    name: str | None
    metadata_url: str

    @property
    def label(self) -> str:
        return self.name.capitalize() if self.name else urlsplit(self.metadata_url).hostname \
            or "the sign-in provider"


def read_auth_section(paths: Iterable[str | Path]) -> Mapping[str, Any] | None:
    """``[auth]`` from the secrets files Streamlit reads (``secrets.files``: later files win
    key by key, as in Streamlit); None when no file exists or none has ``[auth]``.

    Folders (Streamlit's Kubernetes-style secrets) are not read here: the launcher then
    believes sign-in is not configured, which can only make it refuse more, never less."""
    merged: dict[str, Any] = {}
    for path in map(Path, paths):
        if path.suffix != ".toml" or not path.is_file():
            continue
        try:
            with path.open("rb") as fh:
                merged.update(tomllib.load(fh))
        except tomllib.TOMLDecodeError as exc:
            raise SignInConfigError(f"{path}: not valid TOML ({exc})") from None
        except UnicodeDecodeError:
            raise SignInConfigError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
        except OSError as exc:
            raise SignInConfigError(f"{path}: cannot read "
                                    f"({exc.strerror or type(exc).__name__})") from None
    auth = merged.get("auth")
    return auth if auth is not None else None


def _absolute_url(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SignInConfigError(f"[auth] '{key}' should be an absolute http(s) URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SignInConfigError(f"[auth] '{key}' should be an absolute http(s) URL, got "
                                f"{value.strip()!r}")
    if parts.username or parts.password:
        # Not echoed: the user:password part is a credential.
        raise SignInConfigError(f"[auth] '{key}' holds user:password@ — a sign-in URL needs "
                                "no credentials in it")
    return value.strip()


def _provider(section: Mapping[str, Any], name: str | None) -> Provider:
    where = f"[auth.{name}]" if name else "[auth]"
    missing = [k for k in PROVIDER_KEYS
               if not isinstance(section.get(k), str) or not section[k].strip()]
    if missing:
        raise SignInConfigError(f"{where} needs {', '.join(missing)} (text): see README "
                                "'Sign-in' for Google, Microsoft Entra and Okta examples")
    url = _absolute_url(section["server_metadata_url"],
                        f"{name}.server_metadata_url" if name else "server_metadata_url")
    return Provider(name=name, metadata_url=url)


def providers(section: Any) -> list[Provider]:
    """The providers of an ``[auth]`` section; ``[]`` when there is none (sign-in not
    configured). Raises :class:`SignInConfigError` when the section is there but broken:
    sign-in meant to be on must never silently become off."""
    if section is None:
        return []
    if not isinstance(section, Mapping):
        raise SignInConfigError("[auth] must be a table")
    redirect = _absolute_url(section.get("redirect_uri"), "redirect_uri")
    if not urlsplit(redirect).path.endswith("/oauth2callback"):
        raise SignInConfigError(f"[auth] 'redirect_uri' should end with /oauth2callback "
                                f"(e.g. https://HOST/oauth2callback), got {redirect!r}")
    secret = section.get("cookie_secret")
    if not isinstance(secret, str) or len(secret.strip()) < MIN_COOKIE_SECRET:
        raise SignInConfigError(
            f"[auth] 'cookie_secret' should be a random text of at least {MIN_COOKIE_SECRET} "
            "characters (python -c 'import secrets; print(secrets.token_hex(32))')")
    found = []
    if any(k in section for k in PROVIDER_KEYS):
        found.append(_provider(section, None))
    for name, value in section.items():
        if name == "client_kwargs" or not isinstance(value, Mapping):
            continue
        if "_" in name:  # st.login cannot take a provider name with an underscore
            raise SignInConfigError(f"[auth.{name}]: a provider name may not contain '_'")
        found.append(_provider(value, name))
    if not found:
        raise SignInConfigError("[auth] names no provider: add client_id, client_secret and "
                                "server_metadata_url (README 'Sign-in')")
    return found


def authlib_missing() -> str | None:
    """One line when sign-in cannot work because ``streamlit[auth]`` is not installed."""
    import importlib.util

    if importlib.util.find_spec("authlib") is None:
        return ("sign-in needs streamlit[auth] (Authlib), which is not installed: "
                "pip install -r requirements.txt")
    return None


def probe(metadata_url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when the provider's discovery document answers with an authorization endpoint;
    else one line saying what is wrong (for the sign-in page and the launcher)."""
    host = urlsplit(metadata_url).netloc
    try:
        with urllib.request.urlopen(metadata_url, timeout=timeout) as answer:
            document = json.loads(answer.read(1_000_000))
    except urllib.error.HTTPError as exc:
        return f"the sign-in provider at {host} answered {exc.code} for its OpenID configuration"
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", None) or exc
        return f"the sign-in provider at {host} cannot be reached ({why})"
    except ValueError:
        return f"the sign-in provider at {host} did not answer with an OpenID configuration"
    if not isinstance(document, dict) or not document.get("authorization_endpoint"):
        return f"the sign-in provider at {host} did not answer with an OpenID configuration"
    return None
