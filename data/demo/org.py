"""The demo organisation's fixed cast: projects, people, releases, test suites, services.

It matches ``data/demo.toml`` (teams → projects → repos → services). Rates are per two-week
window at ``--scale 1`` and chosen so that scale 1 gives about 2,000 work items and 50,000 test
results over the ~6 months of history.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TestCase:
    classname: str
    name: str
    seconds: float  # typical duration
    kind: str = "normal"  # normal/flaky/slow/skipped


@dataclass(frozen=True)
class Project:
    key: str
    style: str  # jira/github
    team: str
    repo: str
    service: str
    board: str | None
    sprint_hour: float  # UTC hour sprints start (09:00 in the team's zone)
    work_hours: tuple[float, float]  # UTC hours the team works in
    people: tuple[str, ...]
    stories_per_window: float
    bugs_per_window: float
    epics: tuple[str, ...]
    releases: tuple[tuple[str, str, int], ...]  # (name, shipped/upcoming/later, days from today)
    main_runs_per_window: float
    flaky_rate: float  # chance a flaky test fails in a main run
    tests: tuple[TestCase, ...] = field(default=())
    initial_status: str = "To Do"
    prod_env: str = "production"
    staging_env: str = "staging"
    first_run_number: int = 1000

    @property
    def upcoming(self) -> str:
        return next(n for n, kind, _ in self.releases if kind == "upcoming")


def _suite(module: str, cls: str, names: str, seconds: float = 0.4,
           special: dict[str, tuple[str, float]] | None = None) -> list[TestCase]:
    special = special or {}
    out = []
    for name in names.split():
        kind, secs = special.get(name, ("normal", seconds))
        out.append(TestCase(f"tests.{module}.{cls}", f"test_{name}", secs, kind))
    return out


PAY_TESTS = tuple(
    _suite("checkout.test_cards", "TestCardPayments",
           "authorises_visa authorises_mastercard declines_expired_card declines_stolen_card "
           "3ds_challenge_saved_card 3ds_frictionless idempotency_key_reused amount_limits",
           special={"3ds_challenge_saved_card": ("slow", 24.0)})
    + _suite("checkout.test_wallets", "TestWallets",
             "apple_pay_token google_pay_token wallet_declined wallet_currency_mismatch "
             "wallet_refund wallet_webhook")
    + _suite("refunds.test_refunds", "TestRefunds",
             "refund_full refund_partial refund_partial_currency_rounding refund_twice_rejected "
             "refund_after_chargeback refund_webhook_emitted refund_ledger_entries "
             "refund_limits")
    + _suite("webhooks.test_delivery", "TestWebhookDelivery",
             "webhook_signed webhook_retry_backoff webhook_dead_letter webhook_ordering "
             "webhook_timeout webhook_replay",
             special={"webhook_retry_backoff": ("flaky", 3.1), "webhook_timeout": ("flaky", 5.0)})
    + _suite("ledger.test_ledger", "TestLedger",
             "double_entry_balanced settlement_batch fx_conversion fee_calculation "
             "payout_schedule ledger_export_csv reconciliation_report month_close",
             special={"reconciliation_report": ("slow", 41.0), "month_close": ("slow", 63.0)})
    + _suite("fraud.test_rules", "TestFraudRules",
             "velocity_rule blocklist_rule amount_anomaly country_mismatch manual_review_queue "
             "rule_priority")
    + _suite("api.test_auth", "TestApiAuth",
             "api_key_required api_key_revoked oauth_scope_checkout oauth_scope_refunds "
             "rate_limit_headers cors_preflight",
             special={"cors_preflight": ("skipped", 0.0)})
    + _suite("api.test_contract", "TestOpenApiContract",
             "charges_schema refunds_schema payouts_schema errors_schema pagination_links "
             "sandbox_keys", seconds=1.2,
             special={"sandbox_keys": ("flaky", 2.4)})
)

OPS_TESTS = tuple(
    _suite("gateway.test_routing", "TestRouting",
           "routes_by_host routes_by_path weighted_canary sticky_sessions header_rewrite "
           "path_prefix_strip websocket_upgrade grpc_passthrough")
    + _suite("gateway.test_limits", "TestRateLimits",
             "token_bucket_refill burst_allowance per_key_limits global_limit limit_headers "
             "redis_failover", special={"redis_failover": ("flaky", 4.2)})
    + _suite("gateway.test_tls", "TestTls",
             "cert_rotation sni_selection mtls_clients ocsp_stapling tls13_only hsts_header",
             special={"cert_rotation": ("slow", 35.0)})
    + _suite("infra.test_health", "TestHealth",
             "liveness readiness drain_on_sigterm graceful_reload upstream_ejection "
             "circuit_breaker", special={"graceful_reload": ("slow", 28.0)})
    + _suite("infra.test_config", "TestConfigReload",
             "reload_routes reload_invalid_rejected reload_keeps_connections secrets_from_env "
             "feature_flags audit_log")
    + _suite("infra.test_observability", "TestObservability",
             "metrics_endpoint trace_propagation access_log_format error_budget_alerts "
             "dashboard_export sampling_rate",
             special={"dashboard_export": ("skipped", 0.0), "sampling_rate": ("flaky", 1.1)})
)

WEB_TESTS = tuple(
    _suite("web.test_pages", "TestPages",
           "home_renders pricing_renders login_renders signup_renders docs_search "
           "dashboard_empty_state dashboard_charts settings_save", seconds=0.9)
    + _suite("web.test_checkout_flow", "TestCheckoutFlow",
             "cart_totals coupon_applied tax_by_country card_form_validation "
             "checkout_redirect receipt_email", seconds=2.2,
             special={"checkout_redirect": ("flaky", 6.5)})
    + _suite("web.test_a11y", "TestAccessibility",
             "contrast_ratio keyboard_navigation aria_labels focus_trap_modal "
             "screen_reader_tables reduced_motion", seconds=1.5,
             special={"screen_reader_tables": ("slow", 22.0)})
    + _suite("web.test_e2e", "TestEndToEnd",
             "signup_to_first_payment invite_teammate export_invoices switch_plan "
             "cancel_subscription sso_login", seconds=9.0,
             special={"sso_login": ("skipped", 0.0), "invite_teammate": ("flaky", 12.0),
                      "signup_to_first_payment": ("slow", 48.0)})
    + _suite("web.test_i18n", "TestI18n",
             "german_dates french_currency rtl_layout plural_rules missing_keys_fallback "
             "locale_switch", seconds=0.3)
)

PROJECTS: tuple[Project, ...] = (
    Project(
        key="PAY", style="jira", team="payments", repo="acme/payments", service="payments-api",
        board="1", sprint_hour=8.0, work_hours=(7.5, 17.0),
        people=("ana.souza", "ben.okafor", "chloe.martin", "dmitri.ivanov", "eva.lindqvist",
                "farid.haddad"),
        stories_per_window=38, bugs_per_window=18,
        epics=("3-D Secure 2 rollout", "Partial refunds", "Ledger v2", "Fraud rules engine",
               "Wallet payments", "PSD2 reporting"),
        releases=(("2.1", "shipped", -105), ("2.2", "shipped", -63), ("2.3", "shipped", -21),
                  ("2.4", "upcoming", 10), ("2.5", "later", 38)),
        main_runs_per_window=34, flaky_rate=0.05, tests=PAY_TESTS, first_run_number=4000,
    ),
    Project(
        key="OPS", style="jira", team="platform", repo="acme/platform",
        service="platform-gateway", board="2", sprint_hour=14.0, work_hours=(13.5, 23.0),
        people=("grace.kim", "hugo.silva", "irene.novak", "jamal.wright", "kofi.mensah"),
        stories_per_window=30, bugs_per_window=12,
        epics=("Gateway rate limits v2", "mTLS everywhere", "Zero-downtime reloads",
               "Observability baseline"),
        releases=(("1.7", "shipped", -84), ("1.8", "shipped", -35), ("1.9", "upcoming", 6),
                  ("2.0", "later", 34)),
        main_runs_per_window=30, flaky_rate=0.02, tests=OPS_TESTS, initial_status="Backlog",
        prod_env="prod", staging_env="stage", first_run_number=2000,
    ),
    Project(
        key="acme/web", style="github", team="web", repo="acme/web", service="web",
        board=None, sprint_hour=9.0, work_hours=(8.0, 18.0),
        people=("lena-fischer", "marco-rossi", "nina-patel", "oscar-dubois"),
        stories_per_window=30, bugs_per_window=14,
        epics=(),
        releases=(("v3.0", "shipped", -90), ("v3.1", "shipped", -42), ("v3.2", "upcoming", 24)),
        main_runs_per_window=30, flaky_rate=0.03, tests=WEB_TESTS, first_run_number=7000,
    ),
)

BY_KEY = {p.key: p for p in PROJECTS}

STORY_TITLES = (
    "Support {x} in checkout", "Show {x} on the dashboard", "Add {x} to the public API",
    "Migrate {x} to the new ledger", "Document {x}", "Speed up {x}", "Audit log for {x}",
    "Retry policy for {x}", "Feature flag for {x}", "Alerting on {x}",
)
BUG_TITLES = (
    "{x} returns 500 under load", "{x} shows the wrong currency", "Timeout in {x}",
    "{x} double-counts retries", "Race condition in {x}", "{x} ignores the locale",
    "{x} leaks a connection", "Wrong rounding in {x}", "{x} fails after token refresh",
)
TOPICS = {
    "PAY": ("card payments", "partial refunds", "payouts", "webhook delivery", "3-D Secure",
            "wallet tokens", "settlement files", "dispute handling", "FX rates", "invoices"),
    "OPS": ("rate limiting", "TLS certificates", "config reloads", "canary routing",
            "health checks", "access logs", "Redis failover", "service mesh", "DNS", "tracing"),
    "acme/web": ("pricing page", "signup form", "dark mode", "invoice export", "team invites",
                 "SSO login", "settings page", "onboarding tour", "search", "billing page"),
}
LABELS = {
    "PAY": ("checkout", "refunds", "ledger", "api", "tech-debt", "customer"),
    "OPS": ("gateway", "infra", "security", "observability", "tech-debt"),
    "acme/web": ("frontend", "a11y", "i18n", "ux", "performance"),
}
