"""Where connectors get their secrets: the environment, else `.streamlit/secrets.toml`.

The secrets file is git-ignored and is what a team deploying the app would already use for
Streamlit; reading it with tomllib keeps streamlit out of the connectors. Values are stripped
of surrounding whitespace (a pasted token often ends in a newline); a value with any other
control character is refused in one line naming the variable. Every secret found is registered
with :func:`net.http.register_secret`, so it is scrubbed from any message — but not a
user name (``secret=False``): it is often a plain word such as ``jenkins``.
"""

from __future__ import annotations

import os
import tomllib
import unicodedata
from pathlib import Path

from net.http import register_secret
from data.config import ConfigError

SECRETS_FILE = Path(".streamlit/secrets.toml")


def get_secret(name: str, *, secrets_file: Path | None = None,
               secret: bool = True) -> str | None:
    """The value of ``name`` from the environment, else from the secrets file, else None;
    surrounding whitespace removed. :class:`ConfigError` if it holds a control character."""
    value = (os.environ.get(name) or "").strip()
    if not value:
        path = secrets_file or Path(os.environ.get("SHIPREADY_SECRETS", SECRETS_FILE))
        try:
            with path.open("rb") as fh:
                found = tomllib.load(fh).get(name)
        except (OSError, tomllib.TOMLDecodeError):
            found = None
        value = found.strip() if isinstance(found, str) else ""
    if not value:
        return None
    if any(unicodedata.category(c) == "Cc" for c in value):
        # Not echoed: the value may be the secret itself.
        raise ConfigError(f"{name} holds a control character (a line break or tab inside it?) "
                          f"— set {name} again to the bare value")
    if secret:
        register_secret(value)
    return value
