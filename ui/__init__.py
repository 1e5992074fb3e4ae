"""Streamlit-side helpers: the cached engine and loaders, figure builders, shared widgets."""

import streamlit as st


def ensure_router() -> None:
    """Make sure the page runs inside app.py's router, never on its own; then show the data
    age (:func:`ui.freshness.show`).

    A folder named ``pages/`` makes Streamlit start in its old multipage mode until the first
    ``st.navigation`` call in the process; a deep link opened first on a fresh server would run
    the page script alone (no shared filters, no page config). Switching the old mode off and
    rerunning sends the request through app.py, which keeps the URL's query parameters.

    A visitor the router would not let in (README "Sign-in") is sent through it too, whatever
    an earlier run of the session did: the router then shows the sign-in page instead.
    """
    from ui import gate

    if st.session_state.get("_via_router") and gate.admitted():
        # Every page starts here: pin the data version this render reads and show how old
        # each source's data is (ui/freshness.py) — once per run, before any cached read.
        from ui import freshness

        freshness.show()
        return
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()
