"""Every knob has an environment variable, a documented default, and a row in docs/settings.md."""
import re

import pytest

from app import settings_doc
from app.settings import Settings
from tests.conftest import REPO


def test_every_field_is_read_from_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_RECS_PARTITIONS", "3")
    monkeypatch.setenv("MOVIE_RECS_TOPIC_PREFIX", "staging-")
    settings = Settings()
    assert settings.partitions == 3 and settings.topic("watch") == "staging-watch"


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_RECS_PARTITIONS", "0")
    with pytest.raises(ValueError):
        Settings()


def test_every_field_has_a_docstring_and_docs_settings_md_is_generated_from_the_class() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no docstring"
    doc = (REPO / "docs" / "settings.md").read_text()
    assert doc == settings_doc.render(), "docs/settings.md is out of date: run python -m app.settings_doc"
    documented = set(re.findall(r"`MOVIE_RECS_([A-Z0-9_]+)`", doc))
    assert {name.upper() for name in Settings.model_fields} <= documented
    scripts = " ".join(p.read_text() for p in (REPO / "docker").rglob("*.sh"))
    assert set(re.findall(r"MOVIE_RECS_([A-Z0-9_]+)", scripts)) <= documented


def test_broker_url_lists_every_bootstrap_server() -> None:
    settings = Settings(kafka_bootstrap="a:1, b:2")
    assert settings.broker_url == "kafka://a:1;kafka://b:2"
