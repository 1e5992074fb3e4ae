"""ShipReady — the router: page config, navigation, the shared filters and their URL.

Pages live in pages/ and only render. The shared selection (team, project, release, sprint,
date range) is kept in session state and written back to ``st.query_params`` on every run,
because Streamlit clears query parameters on a page switch and the URL is the state.
"""

import streamlit as st

from data.config import ConfigError
from data.store import DatabaseError
from ui import db, filters, gate, theme

st.set_page_config(page_title="ShipReady", page_icon="🚦", layout="wide")
st.session_state["_via_router"] = True  # see ui.ensure_router
theme.register()
# Before any page is registered: a visitor who may not enter sees the sign-in (or access
# denied) page only, whatever the URL — README "Sign-in".
viewer = gate.enter()

# (script, title, icon, url path, uses the shared filters)
# The url path is the file's name: until the router's first run in a server process,
# Streamlit names pages after the files in pages/ (its legacy mode), so a deep link opened
# first on a fresh server must match that name or it gets "Page not found" (README "Pages
# and their URLs"; tests/test_browser_deep_links.py).
PAGE_SPECS = [
    ("pages/home.py", "Home", "🏠", "home", False),
    ("pages/readiness.py", "Readiness", "🚦", "readiness", True),
    ("pages/sprint.py", "Sprint", "🏃", "sprint", True),
    ("pages/quality.py", "Quality", "🐞", "quality", True),
    ("pages/delivery.py", "Delivery", "🚀", "delivery", True),
    ("pages/data_sources.py", "Data sources", "🔌", "data_sources", False),
]
PAGES = [st.Page(path, title=title, icon=icon, url_path=slug, default=(path == "pages/home.py"))
         for path, title, icon, slug, _ in PAGE_SPECS]
FILTERED = {title for _, title, _, _, uses in PAGE_SPECS if uses}

page = st.navigation(PAGES)
gate.account_box(viewer)

try:
    url = db.database_url()
    db.engine()
    releases = db.load_releases(url)
    sprints = db.load_sprints(url)
    projects = db.load_projects(url)
    settings = db.settings()
except (DatabaseError, ConfigError):
    pass  # each page reports what is wrong in its own words
else:
    filters.init_from_query(releases, sprints)
    if page.title in FILTERED:
        filters.sidebar(settings, projects)
    filters.write_query(releases, sprints)

page.run()
