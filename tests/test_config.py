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
    assert set(settings.teams) == {"payments", "platform", "web"}
    assert settings.project_for_repo("acme/payments") == "PAY"
    assert settings.mapping.severity_by_priority["Highest"] == "critical"


def test_example_file_is_valid(monkeypatch):
    from pathlib import Path

    settings = load_settings(Path(__file__).parent.parent / "readiness.toml.example")
    assert settings.configured_sources() == ["github", "jira", "jenkins"]
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
