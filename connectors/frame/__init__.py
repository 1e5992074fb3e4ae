"""The frame every connector runs on: the machinery that is the same for every source.

A connector declares its endpoints (:mod:`connectors.frame.paging`: path, pagination kind,
items key, incremental key, normaliser) and the executor (:class:`Stream`,
:mod:`connectors.frame.stream`) runs each for a scope; the frame gives it

- per-scope runs (:func:`sync_scopes`): one ``sync_runs`` row per project, repository or job,
  counting its own requests; one failing scope does not stop the others;
- cursors, ETags and pending lists kept in the transaction that wrote what they cover
  (:mod:`connectors.frame.state`);
- listings that know whether they are complete, and deletions only on complete ones, never
  on an empty one, within the share limit (:mod:`connectors.frame.deletions`);
- one-line errors for answers of the wrong shape (:mod:`connectors.frame.shape`);
- through :class:`net.http.HttpClient`: credentials only to the configured origin, retries,
  rate-limit waits, deadlines and size caps, one-line HTTP errors.
"""

from connectors.frame.deletions import (
    DEFAULT_MAX_DELETE_SHARE,
    DeletePolicy,
    RemovalRefused,
    check_listed,
    check_share,
    note_unverified,
    remove_items,
    remove_unlisted,
)
from connectors.frame.paging import Listing, link_pages
from connectors.frame.runs import (
    ABANDONED_AFTER,
    HEARTBEAT_EVERY_S,
    SyncRun,
    run_outcome,
    sync_scopes,
)
from connectors.frame.shape import bad_shape, reading
from connectors.frame.stream import Deletions, Page, Stream, link_listing
from connectors.frame.state import (
    SyncState,
    etag_for,
    etag_key,
    get_state,
    refetch_pending,
    save_raw,
    set_state,
)

__all__ = [
    "ABANDONED_AFTER", "DEFAULT_MAX_DELETE_SHARE", "Deletions", "HEARTBEAT_EVERY_S",
    "DeletePolicy", "Page", "Stream", "link_listing",
    "Listing", "RemovalRefused", "SyncRun", "SyncState", "bad_shape", "check_listed",
    "check_share", "etag_for", "etag_key", "get_state", "link_pages", "note_unverified",
    "reading", "refetch_pending", "remove_items", "remove_unlisted",
    "run_outcome", "save_raw", "set_state", "sync_scopes",
]
