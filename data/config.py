"""The one place `readiness.toml` is read and validated.

Connectors, metrics and pages all call :func:`load_settings`; nothing else parses the file.
No file means the demo organisation: every section falls back to the defaults below.

The file is described by frozen pydantic models (:class:`ConfigFile` and one model per
section): each field has its one default, its type and a description of what a user must
write. Callers get typed sections (``settings.github.max_wait``), so no default is repeated
where a value is used. An unknown key, a value of the wrong type or out of range raises
:class:`ConfigError`, whose message names the file, the dotted key and what was expected — one
line a user can act on. Gate overrides are only checked for shape here; whether a gate id
exists is checked by the metrics layer, which owns the gate catalogue.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG_PATH = Path("readiness.toml")
DEMO_CONFIG_PATH = Path(__file__).with_name("demo.toml")


class ConfigError(ValueError):
    """A configuration problem, phrased as one line for the user."""


# --- the model ---------------------------------------------------------------------------
# Each section is a frozen pydantic model: the field's default is the one default, its
# description what a user must write (it ends up in the error message). Strict: TOML already
# types its values, so a string where a number is expected is a mistake, not something to coerce.
_Severity = Literal["critical", "high", "medium", "low"]
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_SECONDS = "a number of seconds, 0 or more"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _seconds() -> Any:
    # A negative wait or nan/inf (both valid TOML floats) would make the rate-limit logic
    # wait never or forever.
    return Field(900.0, ge=0, allow_inf_nan=False, description=_SECONDS)


def _owner_name(repos: list[str]) -> list[str]:
    for repo in repos:
        if repo.count("/") != 1:
            raise ValueError(f"should list OWNER/NAME, got {repo!r}")
    return repos


class MappingSettings(_Section):
    """``[mapping]``: how source vocabularies map onto domain values."""

    bug_types: list[str] = Field(["Bug", "Defect"], description="a list of issue type names")
    bug_labels: list[str] = Field(["bug", "type: bug", "kind/bug"],
                                  description="a list of label names")
    incident_types: list[str] = Field(["Incident"], description="a list of issue type names")
    incident_labels: list[str] = Field(["incident"], description="a list of label names")
    story_types: list[str] = Field(["Story", "Feature"], description="a list of issue type names")
    epic_types: list[str] = Field(["Epic"], description="a list of issue type names")
    severity_by_priority: dict[str, _Severity] = Field(
        {"Highest": "critical", "Blocker": "critical", "Critical": "critical", "High": "high",
         "Major": "high", "Medium": "medium", "Low": "low", "Minor": "low", "Lowest": "low",
         "Trivial": "low"},
        description="a table of priority name = critical|high|medium|low")
    severity_labels: dict[str, _Severity] = Field(
        {"severity: critical": "critical", "sev1": "critical", "P0": "critical",
         "severity: high": "high", "sev2": "high", "P1": "high",
         "severity: medium": "medium", "sev3": "medium", "P2": "medium",
         "severity: low": "low", "sev4": "low", "P3": "low",
         # GitLab's scoped labels (docs/connectors: "GitLab")
         "severity::critical": "critical", "severity::high": "high",
         "severity::medium": "medium", "severity::low": "low",
         "priority::1": "critical", "priority::2": "high", "priority::3": "medium",
         "priority::4": "low"},
        description="a table of label = critical|high|medium|low")
    production_labels: list[str] = Field(
        ["production", "found-in-production"],
        description="a list of labels meaning a bug was found in production")
    in_progress_labels: list[str] = Field(["in progress", "in-progress", "status: in progress"],
                                          description="a list of labels meaning work started")
    started_from: list[Literal["assigned", "linked_pr", "label"]] = Field(
        ["assigned", "linked_pr", "label"],
        description="a list drawn from assigned, linked_pr, label")
    not_delivered_resolutions: list[str] = Field(
        ["Won't Do", "Won't Fix", "Duplicate", "Cannot Reproduce", "Declined", "not_planned",
         "duplicate"],
        description="a list of resolution names that do not count as delivered work")
    production_environments: list[str] = Field(["production", "prod", "live"],
                                               description="a list of environment names")
    staging_environments: list[str] = Field(["staging", "stage", "preprod", "pre-production"],
                                            description="a list of environment names")
    story_points_field: str = Field(
        "auto", description="'auto' or a Jira field id such as customfield_10016")


class GithubSettings(_Section):
    """``[github]``: which repositories to sync and how."""

    api_url: str = Field("https://api.github.com",
                         description="a URL such as https://HOST/api/v3")
    repos: list[str] = Field([], description="a list of OWNER/NAME strings")
    token_env: str = Field("GITHUB_TOKEN", min_length=1,
                           description="the name of an environment variable")
    lookback_days: int = Field(180, description="a whole number of days")
    artifact_pattern: str = Field("*junit*", min_length=1,
                                  description="a glob matched against artifact names")
    deploy_workflows: list[str] = Field(
        [], description="a list of workflow names or file names that deploy")
    max_wait: float = _seconds()
    per_page: int = Field(100, ge=1, le=100, description="a whole number from 1 to 100")
    # Organisation scale (README "GitHub at organisation scale"): every repository an
    # organisation lists, discovered again at every sync, narrowed by globs on OWNER/NAME.
    orgs: list[str] = Field([], description="a list of organisation names such as acme")
    include: list[str] = Field(
        [], description="a list of glob patterns on OWNER/NAME such as acme/web-*")
    exclude: list[str] = Field(
        [], description="a list of glob patterns on OWNER/NAME such as acme/*-archive")
    include_forks: bool = Field(False, description="true or false")
    include_archived: bool = Field(False, description="true or false")

    _repos = field_validator("repos")(_owner_name)

    @field_validator("orgs")
    @classmethod
    def _org_names(cls, orgs: list[str]) -> list[str]:
        for org in orgs:
            if not org.strip() or "/" in org or org != org.strip():
                raise ValueError(f"should list organisation names such as acme (no '/'), "
                                 f"got {org!r}")
        return orgs

    @field_validator("include", "exclude")
    @classmethod
    def _globs(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if pattern.count("/") != 1:
                raise ValueError(f"should list glob patterns on OWNER/NAME such as "
                                 f"acme/web-*, got {pattern!r}")
        return patterns


class JiraSettings(_Section):
    """``[jira]``: the Jira site, its projects and boards."""

    url: str = Field("", description="the Jira base URL, e.g. https://acme.atlassian.net")
    projects: list[str] = Field([], description="a list of project keys")
    # Board ids are numbers in Jira; a quoted id is accepted too (both are read as text).
    boards: list[int | str] = Field([], description="a list of board ids")
    status_names: dict[str, Literal["todo", "in_progress", "done"]] = Field(
        {}, description="a table of status name = todo|in_progress|done")
    max_wait: float = _seconds()


class JenkinsSettings(_Section):
    """``[jenkins]``: the Jenkins server and its jobs."""

    url: str = Field("", description="the Jenkins base URL")
    jobs: list[str] = Field([], description="a list of job paths such as folder/job or app/main")
    deploy_job_pattern: str = Field("", description="a glob matched against job paths that deploy")
    max_wait: float = _seconds()


def _paths(paths: list[str]) -> list[str]:
    for path in paths:
        parts = path.strip("/").split("/")
        if not path.strip() or not all(p.strip() for p in parts):
            raise ValueError(f"should list paths such as group/sub/project, got {path!r}")
    return [p.strip("/") for p in paths]


class GitlabSettings(_Section):
    """``[gitlab]``: the GitLab instance, its projects and groups."""

    url: str = Field("https://gitlab.com",
                     description="the GitLab base URL, e.g. https://gitlab.example.com or "
                                 "https://example.com/gitlab")
    projects: list[str] = Field([], description="a list of project paths such as group/sub/project")
    groups: list[str] = Field([], description="a list of group paths (subgroups included)")
    include_archived: bool = Field(False, description="true or false")
    weight_as_story_points: bool = Field(False, description="true or false")
    token_env: str = Field("GITLAB_TOKEN", min_length=1,
                           description="the name of an environment variable")
    lookback_days: int = Field(180, ge=1, description="a whole number of days, 1 or more")
    max_wait: float = _seconds()
    per_page: int = Field(100, ge=1, le=100, description="a whole number from 1 to 100")

    _projects = field_validator("projects", "groups")(_paths)


class AppSettings(_Section):
    """``[app]``: where data is stored, how much one sync may delete, where the app is served."""

    database_url: str = Field("", description="a SQLAlchemy URL (DATABASE_URL overrides it)")
    base_url: str = Field("", description="the dashboard's address, an http(s) URL such as "
                                          "https://shipready.acme.example (links in messages)")
    max_delete_share: float = Field(
        0.1, ge=0, le=1, allow_inf_nan=False,
        description="a number from 0 to 1: the largest share of a repository's or project's "
                    "stored items one sync may remove")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname \
                or "@" in parts.netloc or parts.query or parts.fragment:
            raise ValueError("should be an http(s) URL naming a host, without user:password@, "
                             f"query or fragment, got {value!r}")
        return value.rstrip("/")


class NotifySettings(_Section):
    """``[notify]``: where verdict changes and the daily digest are posted (README,
    Notifications). The webhook URL itself is a secret: only the name of the variable holding
    it is written here."""

    to: Literal["slack", "teams", "json"] | None = Field(
        None, description="one of slack, teams, json")
    webhook_env: str = Field("SHIPREADY_WEBHOOK_URL",
                             description="the name of an environment variable")
    digest_days: int = Field(7, ge=0, le=365,
                             description="a whole number of days from 0 to 365")
    digest_hour: int = Field(8, ge=0, le=23, description="an hour of the day (UTC), 0 to 23")

    @field_validator("webhook_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        # Not echoed: a URL pasted here by mistake is the secret itself.
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("should be the name of an environment variable (letters, digits "
                             "and _), not the webhook URL itself: put the URL in that variable")
        return value


def _email_list(values: list[str]) -> list[str]:
    # Compared in lower case: providers differ in how they case an address, and no mail
    # system in use gives two people addresses that differ only by case.
    out = []
    for value in values:
        local, at, domain = value.strip().rpartition("@")
        if not at or not local or not _is_domain(domain) or any(c.isspace() for c in local):
            raise ValueError(f"should list email addresses such as ana@example.com, got "
                             f"{value!r}")
        out.append(value.strip().lower())
    return out


def _domain_list(values: list[str]) -> list[str]:
    out = []
    for value in values:
        if not _is_domain(value.strip()):
            raise ValueError(f"should list bare domains such as example.com (no @, no *, no "
                             f"leading dot), got {value!r}")
        out.append(value.strip().lower())
    return out


def _is_domain(text: str) -> bool:
    labels = text.split(".")
    return len(labels) >= 2 and all(
        label and all(c.isalnum() or c == "-" for c in label) for label in labels)


class AccessSettings(_Section):
    """``[access]``: who may enter when sign-in is configured (README "Sign-in").

    Addresses and domains are kept in lower case. A domain matches exactly: ``example.com``
    admits ana@example.com, not ana@eu.example.com."""

    emails: list[str] = Field([], description="a list of email addresses")
    domains: list[str] = Field([], description="a list of domains such as example.com")
    admins: list[str] = Field([], description="a list of email addresses")

    _emails = field_validator("emails", "admins")(_email_list)
    _domains = field_validator("domains")(_domain_list)


class GateOverride(_Section):
    """One gate's overrides; unset fields keep the catalogue's value. Whether the gate id
    exists is checked by the metrics layer, which owns the gate catalogue."""

    threshold: float | str | None = Field(None,
                                          description="a number (or a word for text gates)")
    warn: float | str | None = Field(None, description="a number")
    weight: float | None = Field(None, description="a number >= 0")
    blocking: bool | None = Field(None, description="true or false")
    enabled: bool | None = Field(None, description="true or false")
    max_age_hours: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="a number of hours > 0 (age gates such as data_fresh)")


_Gates = dict[str, GateOverride]


class ReleaseSection(_Section):
    gates: _Gates = Field({}, description="a table of gate overrides")


class ProjectSection(_Section):
    repos: list[str] = Field([], description="a list of OWNER/NAME strings")
    release_branch: str = Field("release/{name}",
                                description="a branch pattern containing {name}")
    services: list[str] = Field([], description="a list of service names")
    pipelines: list[str] = Field([], description="a list of pipeline names")
    gates: _Gates = Field({}, description="a table of gate overrides")
    releases: dict[str, ReleaseSection] = Field(
        {}, description="a table of release name = {gates = {...}}")

    @field_validator("release_branch")
    @classmethod
    def _has_name(cls, value: str) -> str:
        if "{name}" not in value:
            raise ValueError(f"should contain {{name}}, got {value!r}")
        return value


class TeamSection(_Section):
    projects: list[str] = Field([], description="a list of project keys")
    repos: list[str] = Field([], description="a list of OWNER/NAME strings")
    timezone: str = Field("UTC", description="an IANA time zone such as Europe/Berlin")
    working_days: list[Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]] = Field(
        ["Mon", "Tue", "Wed", "Thu", "Fri"], description="a list of Mon..Sun")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"should be an IANA time zone, got {name!r}") from None
        return name


class ConfigFile(_Section):
    """The whole of readiness.toml; every section optional."""

    app: AppSettings = AppSettings()
    mapping: MappingSettings = MappingSettings()
    github: GithubSettings = GithubSettings()
    jira: JiraSettings = JiraSettings()
    jenkins: JenkinsSettings = JenkinsSettings()
    notify: NotifySettings = NotifySettings()
    gitlab: GitlabSettings = GitlabSettings()
    access: AccessSettings = AccessSettings()
    projects: dict[str, ProjectSection] = Field({}, description="a table of project keys")
    teams: dict[str, TeamSection] = Field({}, description="a table of team names")
    gates: _Gates = Field({}, description="a table of gate overrides")


def _overrides(gates: _Gates) -> dict[str, dict[str, Any]]:
    # Overrides stay plain tables: gate_overrides() layers them key by key.
    return {gate_id: o.model_dump(exclude_none=True) for gate_id, o in gates.items()}


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
    app: AppSettings
    mapping: MappingSettings
    github: GithubSettings
    jira: JiraSettings
    jenkins: JenkinsSettings
    projects: dict[str, ProjectConfig]
    teams: dict[str, TeamConfig]
    gates: dict[str, dict[str, Any]]
    notify: NotifySettings = NotifySettings()
    gitlab: GitlabSettings = GitlabSettings()
    # No [access] section is an empty one: with sign-in configured only admins may enter,
    # and there are none (README "Sign-in").
    access: AccessSettings = AccessSettings()

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
        if self.github.repos or self.github.orgs:
            out.append("github")
        if self.jira.url and (self.jira.projects or self.jira.boards):
            out.append("jira")
        if self.jenkins.url and self.jenkins.jobs:
            out.append("jenkins")
        if self.gitlab.url and (self.gitlab.projects or self.gitlab.groups):
            out.append("gitlab")
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


def parse_settings(data: dict[str, Any], path: Path | None) -> Settings:
    """Validate an already-parsed TOML document (``path`` is only used in messages)."""
    shown = path or Path("<defaults>")
    try:
        model = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{shown}: {_one_line(exc.errors(include_url=False)[0])}") from None
    projects = {
        key: ProjectConfig(key=key, repos=list(p.repos), release_branch=p.release_branch,
                           services=list(p.services), pipelines=list(p.pipelines),
                           gates=_overrides(p.gates),
                           releases={rel: {"gates": _overrides(r.gates)}
                                     for rel, r in p.releases.items()})
        for key, p in model.projects.items()}
    teams = {name: TeamConfig(name=name, projects=list(t.projects), repos=list(t.repos),
                              timezone=t.timezone, working_days=list(t.working_days))
             for name, t in model.teams.items()}
    return Settings(path=path, app=model.app, mapping=model.mapping, github=model.github,
                    jira=model.jira, jenkins=model.jenkins, projects=projects, teams=teams,
                    gates=_overrides(model.gates), notify=model.notify, gitlab=model.gitlab,
                    access=model.access)


def _one_line(error: Any) -> str:
    """A pydantic error as "'dotted.key' should be <expectation>, got <type> <value>".

    The location is walked through the model so that union member tags and list indexes
    are dropped while table keys (project, team, gate, label names) are kept."""
    model: Any = ConfigFile
    annotation: Any = None
    keys: list[str] = []
    description = ""
    at_field = False
    for part in error["loc"]:
        if annotation is None and isinstance(model, type) and issubclass(model, BaseModel):
            info = model.model_fields.get(str(part))
            keys.append(str(part))
            if info is None:  # an unknown key
                break
            description, annotation, at_field = info.description or "", info.annotation, True
        else:
            at_field = False
            origin, args = get_origin(annotation), get_args(annotation)
            if origin is dict:
                keys.append(str(part))
                annotation = args[1]
            elif origin is list:
                annotation = args[0]
            # else: a union member's tag, e.g. 'float' in float | str: not part of the key
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, annotation = annotation, None
    dotted = ".".join(keys)
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        parent = model.model_fields if annotation is None else {}
        known = ", ".join(sorted(parent))
        if len(keys) == 1:
            return f"unknown section '{dotted}' (known: {known})"
        return f"unknown key '{dotted}' (known keys: {known})"
    if error["type"] == "value_error":  # our own validators phrase the whole expectation
        return f"'{dotted}' {str(error['ctx']['error'])}"
    if error["type"] == "model_type":
        if len(keys) == 1:
            return f"[{dotted}] must be a table"
        return (f"'{dotted}' should be a table of {', '.join(model.model_fields)}, "
                f"got {type(value).__name__} {value!r}")
    if not at_field and error["type"] == "literal_error":
        description = "one of " + error["ctx"]["expected"].replace(" or ", ", ").replace("'", "")
    return (f"'{dotted}' should be {description or 'a table'}, "
            f"got {type(value).__name__} {value!r}")


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
