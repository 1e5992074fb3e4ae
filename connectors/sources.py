"""Sync one source under its lease: the one path the command line, the page's Sync now (a
``connectors sync`` subprocess) and the scheduler (jobs/) take, so no two of them ever sync
the same source at once (connectors/frame/lease.py)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from connectors import SOURCE_MODULES
from connectors.frame.lease import SourceLease, default_holder


def sync_source(name: str, settings, engine: Engine, progress, *, full: bool = False,
                allow_mass_delete: bool = False, holder: str | None = None,
                run: Callable[[Any], dict[str, int]] | None = None) -> dict[str, int]:
    """Sync configured source ``name`` holding its lease; returns items written per resource.

    ``run(module)`` replaces the configured sync (``sync <source> --repo …`` on the command
    line). Raises :class:`connectors.frame.lease.LeaseHeld` when another live process syncs
    ``name`` (nothing is fetched), and ``net.http.SourceError`` when the sync fails.
    """
    module = importlib.import_module(SOURCE_MODULES[name])
    with SourceLease(engine, name, holder or default_holder()):
        if run is not None:
            return run(module)
        return module.sync_configured(settings, engine, progress, full=full,
                                      allow_mass_delete=allow_mass_delete)
