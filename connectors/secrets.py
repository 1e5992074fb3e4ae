"""Where connectors get their secrets: the environment, else `.streamlit/secrets.toml`.

The secrets file is git-ignored and is what a team deploying the app would already use for
Streamlit; reading it with tomllib keeps streamlit out of the connectors. Every value found is
registered with :func:`connectors.http.register_secret`, so it is scrubbed from any message.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from connectors.http import register_secret

SECRETS_FILE = Path(".streamlit/secrets.toml")


def get_secret(name: str, *, secrets_file: Path | None = None) -> str | None:
    """The value of ``name`` from the environment, else from the secrets file, else None."""
    value = os.environ.get(name)
    if not value:
        path = secrets_file or Path(os.environ.get("SHIPREADY_SECRETS", SECRETS_FILE))
        try:
            with path.open("rb") as fh:
                found = tomllib.load(fh).get(name)
        except (OSError, tomllib.TOMLDecodeError):
            found = None
        value = found if isinstance(found, str) else None
    if value:
        register_secret(value)
    return value or None
