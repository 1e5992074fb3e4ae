"""The demo's GitLab team: mobile, with one GitLab project ``acme/mobile/app`` (a path with
several slashes, as GitLab's are) and its service mobile-api.

It is generated like acme/web (issues with labels and milestones, no Jira sprints: the
generators treat every non-Jira project alike) and then given GitLab's URLs by
:func:`finish`. With it the pages show four kinds of project side by side: two Jira projects,
a GitHub repository and a GitLab project (data/demo.toml lists them).
"""

from __future__ import annotations

from sqlalchemy import Engine, func, update

from data import schema
from data.demo.org import LABELS, TOPICS, Project, TestCase, _suite

KEY = "acme/mobile/app"

MOBILE_TESTS: tuple[TestCase, ...] = tuple(
    _suite("mobile.test_login", "TestLogin",
           "password_login biometric_login token_refresh logout_clears_cache sso_redirect "
           "locked_account", seconds=1.1, special={"biometric_login": ("flaky", 2.8)})
    + _suite("mobile.test_cart", "TestCart",
             "add_item remove_item quantity_limits offline_cart_sync price_update_banner "
             "checkout_handoff", seconds=0.8)
    + _suite("mobile.test_push", "TestPushNotifications",
             "order_shipped_push opt_out_respected quiet_hours deep_link_opens_order "
             "badge_count", seconds=0.6, special={"deep_link_opens_order": ("slow", 18.0)})
    + _suite("mobile.test_ui", "TestScreens",
             "home_screen order_history dark_mode large_text landscape_layout "
             "empty_states", seconds=2.4,
             special={"landscape_layout": ("skipped", 0.0), "dark_mode": ("flaky", 3.5)})
)

GITLAB_PROJECTS: tuple[Project, ...] = (
    Project(
        key=KEY, style="gitlab", team="mobile", repo=KEY, service="mobile-api",
        board=None, sprint_hour=7.0, work_hours=(6.5, 16.0),
        people=("paula-mendes", "quentin-roy", "rita-oliveira", "sam-taylor"),
        stories_per_window=4, bugs_per_window=2,  # a small team: scale 1 stays ~2,000 items
        epics=(),
        releases=(("4.0", "shipped", -70), ("4.1", "shipped", -28), ("4.2", "upcoming", 15)),
        main_runs_per_window=26, flaky_rate=0.04, tests=MOBILE_TESTS, first_run_number=9000,
    ),
)

TOPICS.setdefault(KEY, ("login", "cart sync", "push notifications", "order history",
                        "dark mode", "offline mode", "deep links", "app start time",
                        "crash reporting", "in-app payments"))
LABELS.setdefault(KEY, ("ios", "android", "ux", "performance", "tech-debt"))

# GitHub's URL shapes the shared generators write → GitLab's (``/-/`` before the resource)
_URLS = (("/issues/", "/-/issues/"), ("/pull/", "/-/merge_requests/"),
         ("/milestone/", "/-/milestones/"), ("/actions/runs/", "/-/pipelines/"),
         ("/deployments/", "/-/environments/"))


def finish(engine: Engine) -> None:
    """Give the GitLab project's demo rows GitLab's URLs."""
    old, new = f"https://github.com/{KEY}", f"https://gitlab.com/{KEY}"
    tables = ((schema.work_items, schema.work_items.c.project),
              (schema.releases, schema.releases.c.project),
              (schema.pull_requests, schema.pull_requests.c.repo),
              (schema.pipeline_runs, schema.pipeline_runs.c.repo),
              (schema.deployments, schema.deployments.c.repo))
    with engine.begin() as conn:
        for table, owner in tables:
            url = func.replace(table.c.url, old, new)
            for a, b in _URLS:
                url = func.replace(url, a, b)
            conn.execute(update(table).where(table.c.source == "demo", owner == KEY)
                         .values(url=url))
