"""Secrets come from the environment first, then .streamlit/secrets.toml, and are scrubbed."""

from net.http import redact
from net.secrets import get_secret


def test_environment_wins_over_file(tmp_path, monkeypatch):
    f = tmp_path / "secrets.toml"
    f.write_text('GITHUB_TOKEN = "from-file-123456"\n')
    monkeypatch.setenv("GITHUB_TOKEN", "from-env-654321")
    assert get_secret("GITHUB_TOKEN", secrets_file=f) == "from-env-654321"


def test_file_is_used_when_environment_lacks_it_and_value_is_redacted(tmp_path, monkeypatch):
    f = tmp_path / "secrets.toml"
    f.write_text('JIRA_TOKEN = "tok-file-abcdef"\n')
    monkeypatch.delenv("JIRA_TOKEN", raising=False)
    assert get_secret("JIRA_TOKEN", secrets_file=f) == "tok-file-abcdef"
    assert redact("failed with tok-file-abcdef in it") == "failed with *** in it"


def test_missing_everywhere_is_none(tmp_path, monkeypatch):
    monkeypatch.delenv("JENKINS_TOKEN", raising=False)
    assert get_secret("JENKINS_TOKEN", secrets_file=tmp_path / "none.toml") is None


def test_surrounding_whitespace_is_stripped_from_the_file_too(tmp_path, monkeypatch):
    f = tmp_path / "secrets.toml"
    f.write_text('GITHUB_TOKEN = "  ghp_pasted123456\\n"\n')
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert get_secret("GITHUB_TOKEN", secrets_file=f) == "ghp_pasted123456"


def test_a_control_character_inside_is_refused_naming_the_variable(monkeypatch):
    import pytest

    from data.config import ConfigError

    monkeypatch.setenv("JIRA_API_TOKEN", "abc\tdef-ghij")
    with pytest.raises(ConfigError) as err:
        get_secret("JIRA_API_TOKEN")
    assert "JIRA_API_TOKEN" in str(err.value) and "abc" not in str(err.value)


def test_a_user_name_is_read_but_not_redacted(monkeypatch):
    monkeypatch.setenv("JIRA_EMAIL", "ops")
    assert get_secret("JIRA_EMAIL", secret=False) == "ops"
    assert redact("ops: 401 for ops") == "ops: 401 for ops"
