"""Deep links on a fresh server: a link pasted into chat opens its page cleanly every time.

Before the router's first run in a server process, Streamlit builds the page list from the
files in pages/ (its legacy mode; README "Pages and their URLs"), so a page whose URL path is
not its file name got "Page not found — running the app's main page" on the first visit. Each
page's deep link is opened first thing after a server start, in Chromium.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from browser_support import CHROMIUM_ARGS, chromium, settle, streamlit_server
from pages_support import ROOT, load_demo_db


def page_specs() -> list[tuple[str, str, str, str]]:
    """``(script, title, icon, url path)`` of every page, read from app.py's PAGE_SPECS."""
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGE_SPECS"
                                                 for t in node.targets)):
            return [tuple(spec[:4]) for spec in ast.literal_eval(node.value)]
    raise AssertionError("app.py has no PAGE_SPECS")


def test_every_url_path_is_its_file_name():
    """The cause, checked without a browser: the legacy page list names a page by its file
    (pages/data_sources.py → data_sources), so the router's url_path must be the same."""
    specs = page_specs()
    assert len(specs) >= 6
    for script, title, _, slug in specs:
        assert (ROOT / script).is_file(), script
        assert slug == Path(script).stem, f"{title}: url_path {slug!r} is not {Path(script).stem!r}"


# A deep link per page, as someone would paste it; what the page says once it is there.
LINKS = {
    "home": ("", "Portfolio"),
    "readiness": ("readiness?project=PAY&release=2.4", "PAY 2.4"),
    "sprint": ("sprint?team=payments", "Sprint"),
    "quality": ("quality?project=OPS", "Quality"),
    "delivery": ("delivery", "Delivery"),
    "data_sources": ("data_sources", "Data sources"),
}


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    chromium()
    return load_demo_db(tmp_path_factory.mktemp("deep") / "demo.db", scale=0.05)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("slug", list(LINKS))
def test_deep_link_first_after_start_opens_cleanly(slug, demo_url, tmp_path):
    from playwright.sync_api import sync_playwright

    assert slug in {s for _, _, _, s in page_specs()}, f"no page {slug} in app.py"
    path, expect = LINKS[slug]
    with streamlit_server(demo_url, tmp_path / "streamlit.log") as base, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1200})
            page.goto(f"{base}/{path}", wait_until="domcontentloaded")
            settle(page)
            page.get_by_text(expect, exact=False).first.wait_for(timeout=30_000)
            body = page.locator("body").inner_text()
            assert "Page not found" not in body, f"/{path}: {body[:300]}"
            assert page.locator('[data-testid="stException"]').count() == 0
            # The link still names the same view (the router keeps the query parameters).
            assert page.url.split("?")[0].rstrip("/") == f"{base}/{path}".split("?")[0].rstrip("/")
            for pair in path.partition("?")[2].split("&"):
                if pair:
                    assert pair in page.url, (pair, page.url)
        finally:
            browser.close()
