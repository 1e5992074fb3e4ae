"""The GitHub sync benchmark still runs end to end (on 3 pages, not timed): the sync stores
every issue, and the database floor replays exactly the rows the sync stored."""

from __future__ import annotations

import sqlite3

from bench import bench_github_sync as bench


def test_benchmark_runs_and_its_floor_replays_what_the_sync_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "PAGES", 3)
    server = bench.Server()
    try:
        assert bench.bare_loop(server.url) == 300
        db = str(tmp_path / "bench.db")
        written = bench.shipready(server.url, db)
        assert written["issues"] == 300
        _statements, pages = bench.stored_pages(db)
        assert [len(p[0]) for p in pages] == [100, 100, 100]  # raw records per transaction
        assert bench.database_floor(db, str(tmp_path)) > 0  # asserts equal counts inside
    finally:
        server.close()
    with sqlite3.connect(db) as conn:
        members = conn.execute("SELECT count(*) FROM release_items").fetchone()[0]
    assert members == 300  # every bench issue has a milestone
