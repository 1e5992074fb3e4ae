"""readiness.toml is validated in one place; errors name the file, the key and the expectation."""

from __future__ import annotations

import pytest

from data.config import ConfigError, load_settings, parse_settings


def _write(tmp_path, text: str):
    path = tmp_path / "readiness.toml"
    path.write_text(text)
    return path


def test_no_file_means_demo_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    settings = load_settings()
    assert settings.is_demo and settings.configured_sources() == []
    assert set(settings.teams) == {"payments", "platform", "web", "mobile"}
    assert settings.project_for_repo("acme/payments") == "PAY"
    assert settings.mapping.severity_by_priority["Highest"] == "critical"


def test_example_file_is_valid(monkeypatch):
    from pathlib import Path

    settings = load_settings(Path(__file__).parent.parent / "readiness.toml.example")
    assert settings.configured_sources() == ["github", "jira", "jenkins", "gitlab"]
    assert "PAY" in settings.projects


def test_unknown_key_names_file_key_and_known_keys(tmp_path):
    path = _write(tmp_path, '[github]\nrepo = "a/b"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: unknown key 'github.repo'")
    assert "repos" in str(info.value)


def test_wrong_type_names_expectation(tmp_path):
    path = _write(tmp_path, '[github]\nlookback_days = "soon"\n')
    with pytest.raises(ConfigError, match=r"'github.lookback_days' should be a whole number"):
        load_settings(path)


def test_bool_is_not_a_number(tmp_path):
    path = _write(tmp_path, '[gates.test_pass_rate]\nthreshold = true\n')
    with pytest.raises(ConfigError, match="gates.test_pass_rate.threshold"):
        load_settings(path)


def test_gate_overrides_layer_global_project_release(tmp_path):
    path = _write(tmp_path, """
[gates.test_pass_rate]
threshold = 0.95
weight = 2
[projects.PAY.gates.test_pass_rate]
threshold = 0.97
[projects.PAY.releases."2.4".gates.test_pass_rate]
threshold = 0.99
""")
    s = load_settings(path)
    assert s.gate_overrides("PAY", "2.4")["test_pass_rate"] == {"threshold": 0.99, "weight": 2}
    assert s.gate_overrides("PAY", "2.5")["test_pass_rate"] == {"threshold": 0.97, "weight": 2}
    assert s.gate_overrides("WEB", None)["test_pass_rate"] == {"threshold": 0.95, "weight": 2}


def test_bad_severity_and_timezone_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="mapping.severity_labels.p0"):
        load_settings(_write(tmp_path, '[mapping.severity_labels]\np0 = "urgent"\n'))
    with pytest.raises(ConfigError, match="teams.core.timezone"):
        load_settings(_write(tmp_path, '[teams.core]\ntimezone = "Mars/Olympus"\n'))


def test_invalid_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(_write(tmp_path, "[github\n"))


def test_named_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize("value", [-0.1, 1.5, "a lot", float("nan")])
def test_max_delete_share_is_a_number_from_0_to_1(value):
    with pytest.raises(ConfigError, match="app.max_delete_share' should be"):
        parse_settings({"app": {"max_delete_share": value}}, None)


def test_max_delete_share_defaults_to_a_tenth():
    assert parse_settings({}, None).app.max_delete_share == 0.1
    assert parse_settings({"app": {"max_delete_share": 1}}, None).app.max_delete_share == 1


# --- the typed model (issue 12, item 4) ------------------------------------------------------
def test_sections_are_typed_frozen_and_defaulted_in_one_place():
    from pydantic import ValidationError

    from data.mapping import mapping_rules

    s = parse_settings({"github": {"repos": ["acme/web"], "max_wait": 5}}, None)
    assert s.github.repos == ["acme/web"] and s.github.max_wait == 5.0
    assert s.github.per_page == 100 and s.github.token_env == "GITHUB_TOKEN"
    assert s.jira.url == "" and s.jenkins.jobs == [] and s.app.database_url == ""
    with pytest.raises(ValidationError):
        s.github.max_wait = 1  # settings are read, never patched at a use site
    # The migration's rules (no settings) are the defaults of the one model.
    assert mapping_rules(None) == mapping_rules(parse_settings({}, None).mapping)


@pytest.mark.parametrize("doc, message", [
    # a union's member names ('float', 'str') are not part of the key
    ({"gates": {"test_pass_rate": {"threshold": True}}},
     "'gates.test_pass_rate.threshold' should be a number (or a word for text gates), "
     "got bool True"),
    # a list's index is not part of the key; a table's key is
    ({"mapping": {"bug_types": ["Bug", 1]}},
     "'mapping.bug_types' should be a list of issue type names, got int 1"),
    ({"mapping": {"severity_by_priority": {"Urgent": "asap"}}},
     "'mapping.severity_by_priority.Urgent' should be one of critical, high, medium, low, "
     "got str 'asap'"),
    ({"projects": {"PAY": {"releases": {"2.4": {"gate": {}}}}}},
     "unknown key 'projects.PAY.releases.2.4.gate' (known keys: gates)"),
    ({"teams": {"web": {"working_days": ["Mon", "Funday"]}}},
     "'teams.web.working_days' should be one of Mon, Tue, Wed, Thu, Fri, Sat, Sun, "
     "got str 'Funday'"),
    # strict: an int where text is expected is refused, not turned into "5"
    ({"jira": {"url": 5}},
     "'jira.url' should be the Jira base URL, e.g. https://acme.atlassian.net, got int 5"),
    ({"github": {"repos": ["acme"]}}, "'github.repos' should list OWNER/NAME, got 'acme'"),
    ({"github": {"per_page": 101}},
     "'github.per_page' should be a whole number from 1 to 100, got int 101"),
    ({"github": 3}, "[github] must be a table"),
    ({"report": {}}, "unknown section 'report' (known: access, app, gates, github, gitlab, "
                     "jenkins, jira, mapping, notify, projects, teams)"),
    ({"gitlab": {"projects": ["acme//api"]}},
     "'gitlab.projects' should list paths such as group/sub/project, got 'acme//api'"),
    ({"gitlab": {"include_archived": "yes"}},
     "'gitlab.include_archived' should be true or false, got str 'yes'"),
])
def test_errors_are_one_line_naming_file_dotted_key_and_expectation(doc, message):
    from pathlib import Path

    with pytest.raises(ConfigError) as info:
        parse_settings(doc, Path("readiness.toml"))
    assert str(info.value) == f"readiness.toml: {message}"


def test_empty_token_env_is_refused_not_silently_defaulted():
    with pytest.raises(ConfigError, match="'github.token_env' should be the name of an "
                                          "environment variable, got str ''"):
        parse_settings({"github": {"token_env": ""}}, None)
