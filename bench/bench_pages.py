"""Page render times: each page's first (cold cache) and second (warm) render with AppTest.

``python -m bench pages`` loads the demo organisation at ``BENCH_PAGES_SCALE`` (default 10,
≈ 20,000 work items and 500,000 test results) into a temp SQLite file, then for every page:
clears Streamlit's caches, runs the router once, and times the switch to the page (first
render: every metrics call computed) and a rerun (second render: served from st.cache_data).
The baseline, measured in the same process, is the Home page (table counts only), so the
ratio says how much heavier a page is than the app's frame. Target: every page < 2 s warm.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/home.py", "pages/readiness.py", "pages/sprint.py", "pages/quality.py",
         "pages/delivery.py", "pages/data_sources.py"]


def _clear() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def _time_page(app: str, page: str) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    _clear()
    at = AppTest.from_file(app, default_timeout=600).run()
    t0 = time.perf_counter()
    at.switch_page(page).run()
    first = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    t0 = time.perf_counter()
    at.run()
    second = time.perf_counter() - t0
    return first, second


def main() -> None:
    scale = float(os.environ.get("BENCH_PAGES_SCALE", "10"))
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from data.demo import load_demo
    from data.store import get_engine

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        os.environ["DATABASE_URL"] = url
        os.environ.pop("READINESS_CONFIG", None)
        t0 = time.perf_counter()
        engine = get_engine(url)
        counts = load_demo(engine, scale=scale)
        engine.dispose()
        print(f"demo scale {scale:g}: {counts.get('work_items', 0):,} work items, "
              f"{counts.get('test_results', 0):,} test results, "
              f"{counts.get('deployments', 0):,} deployments "
              f"(loaded in {time.perf_counter() - t0:.1f} s)", flush=True)
        app = str(ROOT / "app.py")
        _time_page(app, PAGES[0])  # warm the interpreter: imports are not a page's cost
        base_first, base_second = _time_page(app, PAGES[0])
        print(f"{'page':<22} {'first (s)':>10} {'second (s)':>11} {'ratio warm':>11}")
        print(f"{'home (baseline)':<22} {base_first:>10.2f} {base_second:>11.2f} {1.0:>10.1f}×")
        worst = 0.0
        for page in PAGES[1:]:
            first, second = _time_page(app, page)
            worst = max(worst, second)
            print(f"{Path(page).stem:<22} {first:>10.2f} {second:>11.2f} "
                  f"{second / base_second:>10.1f}×", flush=True)
        print(f"slowest warm render: {worst:.2f} s (target < 2 s): "
              f"{'met' if worst < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
