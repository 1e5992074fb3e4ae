"""First paint: each page's default view rendered with cold caches, then warm, with AppTest.

``python -m bench pages`` loads the demo organisation at ``BENCH_PAGES_SCALE`` (default 10,
≈ 20,000 work items and 500,000 test results; 50 ≈ 100,000 and 2.4 million) into a temp SQLite
file (``BENCH_PAGES_DB=path``: that file instead, loaded only if missing, so runs can reuse it).
For every page: clear Streamlit's caches, run the router once (its own reads — releases,
sprints, projects — are the frame every page shares), then time the switch to the page (the
**cold** render: every metrics call computed) and a rerun (**warm**: served from
st.cache_data). Baseline, in the same process: an empty page (page config and a title) run
the same way, so the ratio says how much heavier a page is than Streamlit's own cost.

Targets (issue "The front door", README "Look and feel"): every page's default view cold
under 1 s at scale 10 and under 2 s at scale 50, warm under 0.3 s. The last line printed is
``slowest cold render: X s``.
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
EMPTY_PAGE = """
import streamlit as st
st.set_page_config(page_title="ShipReady", layout="wide")
st.title("empty")
"""


def _clear() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def _time_empty() -> tuple[float, float]:
    """Cold and warm run of a page that draws one title and reads nothing."""
    from streamlit.testing.v1 import AppTest

    _clear()
    at = AppTest.from_string(EMPTY_PAGE, default_timeout=600)
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    at.run()
    return cold, time.perf_counter() - t0


def _time_page(app: str, page: str) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    _clear()
    at = AppTest.from_file(app, default_timeout=600).run()
    _clear()  # the router's first run warmed nothing for the page: caches cold again
    t0 = time.perf_counter()
    at.switch_page(page).run()
    cold = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    t0 = time.perf_counter()
    at.run()
    warm = time.perf_counter() - t0
    return cold, warm


def _derive() -> float:
    """Seconds to derive and store the default views (``python -m metrics derive``)."""
    from data.config import load_settings
    from data.store import get_engine
    from metrics.derived import derive_defaults

    engine = get_engine(os.environ["DATABASE_URL"])
    t0 = time.perf_counter()
    derive_defaults(engine, load_settings())
    took = time.perf_counter() - t0
    engine.dispose()
    return took


def _forget_derived() -> None:
    from sqlalchemy import delete

    from data import schema
    from data.store import get_engine

    engine = get_engine(os.environ["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(delete(schema.derived_views))
    engine.dispose()


def _counts(engine) -> dict[str, int]:
    """Row counts of a demo file kept from an earlier run (``BENCH_PAGES_DB``)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in ("work_items", "test_results", "deployments", "readiness_snapshots")}


def main() -> None:
    scale = float(os.environ.get("BENCH_PAGES_SCALE", "10"))
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from streamlit import config

    from data.demo import load_demo
    from data.store import get_engine

    # A laptop's server (README "Sign-in"): without it the router shows only "Closed".
    config.set_option("server.address", "127.0.0.1")

    keep = os.environ.get("BENCH_PAGES_DB")  # reuse a demo file between runs (built if missing)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep) if keep else Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        os.environ["DATABASE_URL"] = url
        os.environ.pop("READINESS_CONFIG", None)
        t0 = time.perf_counter()
        reuse = bool(keep) and path.exists()
        engine = get_engine(url)
        if reuse:
            counts = _counts(engine)
        else:
            counts = load_demo(engine, scale=scale)
        engine.dispose()
        print(f"demo scale {scale:g}: {counts.get('work_items', 0):,} work items, "
              f"{counts.get('test_results', 0):,} test results, "
              f"{counts.get('deployments', 0):,} deployments, "
              f"{counts.get('readiness_snapshots', 0):,} readiness snapshots "
              f"(loaded in {time.perf_counter() - t0:.1f} s)", flush=True)
        app = str(ROOT / "app.py")
        _time_page(app, PAGES[0])  # warm the interpreter: imports are not a page's cost
        _time_empty()
        base_cold, base_warm = _time_empty()
        # What `make run` and the scheduler do after a write: derive the pages' default views
        # (metrics/derived.py). "cold" renders read them; "not derived" is the first render
        # right after a write, before anything derived them (the page computes and stores).
        derive_s = _derive()
        print(f"derive the default views: {derive_s:.2f} s (once per data version)")
        print(f"{'page':<22} {'cold (s)':>9} {'warm (s)':>9} {'cold ratio':>11} "
              f"{'not derived (s)':>16}")
        print(f"{'empty (baseline)':<22} {base_cold:>9.2f} {base_warm:>9.2f} {1.0:>10.1f}×")
        worst_cold = worst_warm = 0.0
        for page in PAGES:
            _forget_derived()
            underived, _ = _time_page(app, page)
            _derive()
            cold, warm = _time_page(app, page)
            worst_cold, worst_warm = max(worst_cold, cold), max(worst_warm, warm)
            print(f"{Path(page).stem:<22} {cold:>9.2f} {warm:>9.2f} "
                  f"{cold / max(base_cold, 1e-3):>10.1f}× {underived:>16.2f}", flush=True)
        cold_target = 1.0 if scale <= 10 else 2.0
        print(f"slowest warm render: {worst_warm:.2f} s (target < 0.3 s): "
              f"{'met' if worst_warm < 0.3 else 'NOT met'}; cold target < {cold_target:g} s: "
              f"{'met' if worst_cold < cold_target else 'NOT met'}")
        print(f"slowest cold render: {worst_cold:.2f} s")


if __name__ == "__main__":
    main()
