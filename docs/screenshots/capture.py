"""Regenerate the README's screenshots: the demo organisation served like `make run`,
photographed in Chromium at 1440 and 1024 pixels wide.

    python docs/screenshots/capture.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

A fresh demo database (scale 1, today) in a temporary folder; nothing else is touched. View
the PNGs before committing them (README "Look and feel").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

# (file name, path and query, text to wait for — and scroll to when ``scroll``, widths)
BOTH = (1440, 1024)
SHOTS = [
    ("home", "", "Portfolio", False, BOTH),
    ("readiness", "readiness?project=PAY&release=2.4", "PAY 2.4", False, BOTH),
    ("readiness-history", "readiness?project=PAY&release=2.4", "Readiness over time", True,
     (1440,)),
    ("sprint", "sprint?team=payments", "Burndown", False, (1440,)),
    ("quality", "quality", "Open bugs by severity", False, (1440,)),
    ("delivery", "delivery", "Monthly trends", False, (1440,)),
    ("data-sources", "data_sources", "Last sync per source", False, (1440,)),
]
WIDTHS = (1440, 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM_PATH",
                                                             "/usr/bin/chromium"))
    parser.add_argument("--only", nargs="*", help="names of the shots to take")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from browser_support import CHROMIUM_ARGS, settle, streamlit_server
    from pages_support import load_demo_db

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = load_demo_db(Path(tmp) / "demo.db", scale=1.0)
        with streamlit_server(url, Path(tmp) / "streamlit.log") as base, \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            try:
                for width in WIDTHS:
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    for name, path, expect, scroll, widths in SHOTS:
                        if (args.only and name not in args.only) or width not in widths:
                            continue
                        page.goto(f"{base}/{path}", wait_until="domcontentloaded")
                        settle(page)
                        target = page.get_by_text(expect, exact=False).first
                        target.wait_for(timeout=60_000)
                        if scroll:
                            target.scroll_into_view_if_needed()
                            page.wait_for_timeout(800)
                        shot = args.out / f"{name}-{width}.png"
                        page.screenshot(path=str(shot), full_page=False)
                        print(shot)
                    page.close()
            finally:
                browser.close()


if __name__ == "__main__":
    main()
