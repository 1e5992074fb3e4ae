"""ShipReady — the router: page config, navigation. Pages live in pages/ and only render."""

import streamlit as st

st.set_page_config(page_title="ShipReady", page_icon="🚦", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
]

st.navigation(PAGES).run()
