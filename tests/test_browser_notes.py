"""The release-notes download in a real browser: `streamlit run app.py` driven by Chromium
(fixtures from tests/test_browser.py). The notes are drafted only when the button is clicked
(a deferred download), so this is where that path runs for real."""

from __future__ import annotations

import pytest

from test_browser import CHROMIUM_ARGS, _settle, chromium_path, server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_release_notes_download_from_the_readiness_page(server, chromium_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2200},
                                    accept_downloads=True)
            page.goto(f"{server}/readiness?release=2.4&project=PAY",
                      wait_until="domcontentloaded")
            _settle(page)
            button = page.get_by_role("button", name="Release notes (Markdown)")
            button.scroll_into_view_if_needed()
            with page.expect_download(timeout=60_000) as info:
                button.click()
            download = info.value
            assert download.suggested_filename == "PAY-2.4-release-notes.md"
            text = open(download.path(), encoding="utf-8").read()
        finally:
            browser.close()
    assert text.startswith("# Release notes: PAY 2.4\n")
    assert "## Features" in text and "](https://" in text
