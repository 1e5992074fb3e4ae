"""The one place `readiness.toml` is read and validated.

Connectors, metrics and pages all call :func:`load_settings`; nothing else parses the file.
No file means the demo organisation: every section falls back to the defaults below.

Validation is driven by the ``SPEC`` tables: each known key has an expected type and a
default. An unknown key or a value of the wrong type raises :class:`ConfigError`, whose
message names the file, the dotted key and what was expected — one line a user can act on.
Gate overrides are only checked for shape here; whether a gate id exists is checked by the
metrics layer, which owns the gate catalogue.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATH = Path("readiness.toml")
DEMO_CONFIG_PATH = Path(__file__).with_name("demo.toml")


class ConfigError(ValueError):
    """A configuration problem, phrased as one line for the user."""


# --- the specification ---------------------------------------------------------------------
# Each entry: key -> (expected python type(s), default, description of what is expected).
_STR_LIST = (list, "a list of strings")

MAPPING_SPEC: dict[str, tuple[Any, Any, str]] = {
    "bug_types": (list, ["Bug", "Defect"], "a list of issue type names"),
    "bug_labels": (list, ["bug", "type: bug", "kind/bug"], "a list of label names"),
    "incident_types": (list, ["Incident"], "a list of issue type names"),
    "incident_labels": (list, ["incident"], "a list of label names"),
    "story_types": (list, ["Story", "Feature"], "a list of issue type names"),
    "epic_types": (list, ["Epic"], "a list of issue type names"),
    "severity_by_priority": (
        dict,
        {"Highest": "critical", "Blocker": "critical", "Critical": "critical", "High": "high",
         "Major": "high", "Medium": "medium", "Low": "low", "Minor": "low", "Lowest": "low",
         "Trivial": "low"},
        "a table of priority name = critical|high|medium|low",
    ),
    "severity_labels": (
        dict,
        {"severity: critical": "critical", "sev1": "critical", "P0": "critical",
         "severity: high": "high", "sev2": "high", "P1": "high",
         "severity: medium": "medium", "sev3": "medium", "P2": "medium",
         "severity: low": "low", "sev4": "low", "P3": "low"},
        "a table of label = critical|high|medium|low",
    ),
    "production_labels": (list, ["production", "found-in-production"],
                          "a list of labels meaning a bug was found in production"),
    "in_progress_labels": (list, ["in progress", "in-progress", "status: in progress"],
                           "a list of labels meaning work started"),
    "started_from": (list, ["assigned", "linked_pr", "label"],
                     "a list drawn from assigned, linked_pr, label"),
    "not_delivered_resolutions": (
        list,
        ["Won't Do", "Won't Fix", "Duplicate", "Cannot Reproduce", "Declined", "not_planned",
         "duplicate"],
        "a list of resolution names that do not count as delivered work",
    ),
    "production_environments": (list, ["production", "prod", "live"],
                                "a list of environment names"),
    "staging_environments": (list, ["staging", "stage", "preprod", "pre-production"],
                             "a list of environment names"),
    "story_points_field": (str, "auto", "'auto' or a Jira field id such as customfield_10016"),
}

GITHUB_SPEC: dict[str, tuple[Any, Any, str]] = {
    "api_url": (str, "https://api.github.com", "a URL such as https://HOST/api/v3"),
    "repos": (list, [], "a list of OWNER/NAME strings"),
    "token_env": (str, "GITHUB_TOKEN", "the name of an environment variable"),
    "lookback_days": (int, 180, "a whole number of days"),
    "artifact_pattern": (str, "*junit*", "a glob matched against artifact names"),
    "deploy_workflows": (list, [], "a list of workflow names or file names that deploy"),
    "max_wait": ((int, float), 900, "a number of seconds, 0 or more"),
    "per_page": (int, 100, "a whole number from 1 to 100"),
}

JIRA_SPEC: dict[str, tuple[Any, Any, str]] = {
    "url": (str, "", "the Jira base URL, e.g. https://acme.atlassian.net"),
    "projects": (list, [], "a list of project keys"),
    "boards": (list, [], "a list of board ids"),
    "status_names": (dict, {}, "a table of status name = todo|in_progress|done"),
    "max_wait": ((int, float), 900, "a number of seconds, 0 or more"),
}

JENKINS_SPEC: dict[str, tuple[Any, Any, str]] = {
    "url": (str, "", "the Jenkins base URL"),
    "jobs": (list, [], "a list of job paths such as folder/job or app/main"),
    "deploy_job_pattern": (str, "", "a glob matched against job paths that deploy"),
    "max_wait": ((int, float), 900, "a number of seconds, 0 or more"),
}

PROJECT_SPEC: dict[str, tuple[Any, Any, str]] = {
    "repos": (list, [], "a list of OWNER/NAME strings"),
    "release_branch": (str, "release/{name}", "a branch pattern containing {name}"),
    "services": (list, [], "a list of service names"),
    "pipelines": (list, [], "a list of pipeline names"),
    "gates": (dict, {}, "a table of gate overrides"),
    "releases": (dict, {}, "a table of release name = {gates = {...}}"),
}

TEAM_SPEC: dict[str, tuple[Any, Any, str]] = {
    "projects": (list, [], "a list of project keys"),
    "repos": (list, [], "a list of OWNER/NAME strings"),
    "timezone": (str, "UTC", "an IANA time zone such as Europe/Berlin"),
    "working_days": (list, ["Mon", "Tue", "Wed", "Thu", "Fri"], "a list of Mon..Sun"),
}

GATE_OVERRIDE_SPEC: dict[str, tuple[Any, Any, str]] = {
    "threshold": ((int, float, str), None, "a number (or a word for text gates)"),
    "warn": ((int, float, str), None, "a number"),
    "weight": ((int, float), None, "a number >= 0"),
    "blocking": (bool, None, "true or false"),
    "enabled": (bool, None, "true or false"),
}

APP_SPEC: dict[str, tuple[Any, Any, str]] = {
    "database_url": (str, "", "a SQLAlchemy URL (DATABASE_URL overrides it)"),
    "max_delete_share": ((int, float), 0.1,
                         "a number from 0 to 1: the largest share of a repository's or "
                         "project's stored items one sync may remove"),
}

TOP_LEVEL = {"app", "mapping", "github", "jira", "jenkins", "projects", "teams", "gates"}
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_SEVERITIES = {"critical", "high", "medium", "low"}


@dataclass(frozen=True)
class ProjectConfig:
    key: str
    repos: list[str] = field(default_factory=list)
    release_branch: str = "release/{name}"
    services: list[str] = field(default_factory=list)
    pipelines: list[str] = field(default_factory=list)
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class TeamConfig:
    name: str
    projects: list[str] = field(default_factory=list)
    repos: list[str] = field(default_factory=list)
    timezone: str = "UTC"
    working_days: list[str] = field(default_factory=lambda: list(_WEEKDAYS[:5]))

    @property
    def working_weekdays(self) -> set[int]:
        """Working days as ``datetime.weekday()`` numbers (Mon = 0)."""
        return {_WEEKDAYS.index(d) for d in self.working_days}


@dataclass(frozen=True)
class Settings:
    """Validated configuration. ``path`` is None when no file was found (demo mode)."""

    path: Path | None
    app: dict[str, Any]
    mapping: dict[str, Any]
    github: dict[str, Any]
    jira: dict[str, Any]
    jenkins: dict[str, Any]
    projects: dict[str, ProjectConfig]
    teams: dict[str, TeamConfig]
    gates: dict[str, dict[str, Any]]

    @property
    def is_demo(self) -> bool:
        return self.path is None

    def project_for_repo(self, repo: str) -> str | None:
        """The project whose configuration lists ``repo`` (else None)."""
        for key, project in self.projects.items():
            if repo in project.repos:
                return key
        return None

    def configured_sources(self) -> list[str]:
        """Sources with enough configuration to sync, in a stable order."""
        out = []
        if self.github["repos"]:
            out.append("github")
        if self.jira["url"] and (self.jira["projects"] or self.jira["boards"]):
            out.append("jira")
        if self.jenkins["url"] and self.jenkins["jobs"]:
            out.append("jenkins")
        return out

    def gate_overrides(self, project: str | None, release: str | None) -> dict[str, dict]:
        """Overrides for one release: global, then project, then release — later wins."""
        merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in self.gates.items()}
        proj = self.projects.get(project or "")
        layers = []
        if proj:
            layers.append(proj.gates)
            if release and release in proj.releases:
                layers.append(proj.releases[release].get("gates", {}))
        for layer in layers:
            for gate_id, override in layer.items():
                merged.setdefault(gate_id, {}).update(override)
        return merged

    def team_for_project(self, project: str) -> TeamConfig | None:
        for team in self.teams.values():
            if project in team.projects:
                return team
        return None


def _type_name(expected: Any) -> str:
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return expected.__name__


def _check_type(value: Any, expected: Any) -> bool:
    # bool is an int in Python; a threshold of `true` is still a mistake.
    if isinstance(value, bool) and expected is not bool and not (
        isinstance(expected, tuple) and bool in expected
    ):
        return False
    return isinstance(value, expected)


def _validate_table(raw: Any, spec: dict, where: str, path: Path) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{where}] must be a table")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in spec:
            known = ", ".join(sorted(spec))
            raise ConfigError(f"{path}: unknown key '{where}.{key}' (known keys: {known})")
        expected, _default, description = spec[key]
        if not _check_type(value, expected):
            raise ConfigError(
                f"{path}: '{where}.{key}' should be {description}, "
                f"got {type(value).__name__} {value!r}"
            )
        out[key] = value
    for key, (_expected, default, _d) in spec.items():
        out.setdefault(key, default if not isinstance(default, (list, dict)) else type(default)(default))
    return out


def _validate_gate_overrides(raw: Any, where: str, path: Path) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: '{where}' must be a table of gate ids")
    out = {}
    for gate_id, override in raw.items():
        table = _validate_table(override, GATE_OVERRIDE_SPEC, f"{where}.{gate_id}", path)
        out[gate_id] = {k: v for k, v in table.items() if v is not None}
    return out


def _validate_str_list(values: list, where: str, path: Path) -> None:
    for v in values:
        if not isinstance(v, str):
            raise ConfigError(f"{path}: '{where}' should list strings, got {v!r}")


def parse_settings(data: dict[str, Any], path: Path | None) -> Settings:
    """Validate an already-parsed TOML document (``path`` is only used in messages)."""
    shown = path or Path("<defaults>")
    for key in data:
        if key not in TOP_LEVEL:
            raise ConfigError(
                f"{shown}: unknown section '{key}' (known: {', '.join(sorted(TOP_LEVEL))})"
            )
    mapping = _validate_table(data.get("mapping", {}), MAPPING_SPEC, "mapping", shown)
    for table_key in ("severity_by_priority", "severity_labels"):
        for name, sev in mapping[table_key].items():
            if sev not in _SEVERITIES:
                raise ConfigError(
                    f"{shown}: 'mapping.{table_key}.{name}' should be one of "
                    f"critical, high, medium, low, got {sev!r}"
                )
    for key, (expected, _d, _desc) in MAPPING_SPEC.items():
        if expected is list:
            _validate_str_list(mapping[key], f"mapping.{key}", shown)

    github = _validate_table(data.get("github", {}), GITHUB_SPEC, "github", shown)
    _check_seconds(github, "github", shown)
    if not 1 <= github["per_page"] <= 100:
        raise ConfigError(f"{shown}: 'github.per_page' should be a whole number from 1 to 100")
    for repo in github["repos"]:
        if not isinstance(repo, str) or repo.count("/") != 1:
            raise ConfigError(f"{shown}: 'github.repos' should list OWNER/NAME, got {repo!r}")
    jira = _validate_table(data.get("jira", {}), JIRA_SPEC, "jira", shown)
    _check_seconds(jira, "jira", shown)
    jenkins = _validate_table(data.get("jenkins", {}), JENKINS_SPEC, "jenkins", shown)
    _check_seconds(jenkins, "jenkins", shown)
    app = _validate_table(data.get("app", {}), APP_SPEC, "app", shown)
    if not 0 <= app["max_delete_share"] <= 1:  # also refuses nan
        raise ConfigError(f"{shown}: 'app.max_delete_share' should be a number from 0 to 1, "
                          f"got {app['max_delete_share']!r}")

    projects = {}
    raw_projects = data.get("projects", {})
    if not isinstance(raw_projects, dict):
        raise ConfigError(f"{shown}: [projects] must be a table of project keys")
    for key, raw in raw_projects.items():
        table = _validate_table(raw, PROJECT_SPEC, f"projects.{key}", shown)
        if "{name}" not in table["release_branch"]:
            raise ConfigError(
                f"{shown}: 'projects.{key}.release_branch' should contain {{name}}, "
                f"got {table['release_branch']!r}"
            )
        table["gates"] = _validate_gate_overrides(table["gates"], f"projects.{key}.gates", shown)
        releases = {}
        for rel, rel_raw in table["releases"].items():
            where = f"projects.{key}.releases.{rel}"
            if not isinstance(rel_raw, dict) or set(rel_raw) - {"gates"}:
                raise ConfigError(f"{shown}: '{where}' should be a table with only 'gates'")
            releases[rel] = {"gates": _validate_gate_overrides(rel_raw.get("gates", {}),
                                                               f"{where}.gates", shown)}
        table["releases"] = releases
        projects[key] = ProjectConfig(key=key, **table)

    teams = {}
    raw_teams = data.get("teams", {})
    if not isinstance(raw_teams, dict):
        raise ConfigError(f"{shown}: [teams] must be a table of team names")
    for name, raw in raw_teams.items():
        table = _validate_table(raw, TEAM_SPEC, f"teams.{name}", shown)
        for day in table["working_days"]:
            if day not in _WEEKDAYS:
                raise ConfigError(
                    f"{shown}: 'teams.{name}.working_days' should list Mon..Sun, got {day!r}"
                )
        _check_timezone(table["timezone"], f"teams.{name}.timezone", shown)
        teams[name] = TeamConfig(name=name, **table)

    gates = _validate_gate_overrides(data.get("gates", {}), "gates", shown)
    return Settings(path=path, app=app, mapping=mapping, github=github, jira=jira,
                    jenkins=jenkins, projects=projects, teams=teams, gates=gates)


def _check_seconds(table: dict[str, Any], where: str, path: Path) -> None:
    """``max_wait`` is a finite number of seconds >= 0: a negative wait or ``nan``/``inf``
    (both valid TOML floats) would make the rate-limit logic wait never or forever."""
    value = table["max_wait"]
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{path}: '{where}.max_wait' should be a number of seconds, "
                          f"0 or more, got {value!r}")


def _check_timezone(name: str, where: str, path: Path) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}: '{where}' should be an IANA time zone, got {name!r}") from None


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate the configuration.

    ``path`` defaults to ``$READINESS_CONFIG`` or ``./readiness.toml``. A missing default file
    gives the demo organisation's settings (``data/demo.toml``, ``is_demo`` true); a missing
    file that was named explicitly is an error.
    """
    explicit = path is not None or bool(os.environ.get("READINESS_CONFIG"))
    chosen = Path(path or os.environ.get("READINESS_CONFIG") or DEFAULT_CONFIG_PATH)
    if not chosen.exists():
        if explicit:
            raise ConfigError(f"{chosen}: no such configuration file")
        return parse_settings(_read_toml(DEMO_CONFIG_PATH), None)
    if chosen.is_dir():
        raise ConfigError(f"{chosen}: is a folder, not a configuration file; name the "
                          "readiness.toml file itself")
    return parse_settings(_read_toml(chosen), chosen)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        # tomllib decodes after reading; TOML files are UTF-8 by definition.
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as "
                          "UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})") \
            from None
