"""docs/contracts.md describes every record field and topic the code has, and links nowhere outside the repo."""
from __future__ import annotations

import json
import re

from tests.conftest import REPO

CONTRACTS = (REPO / "docs" / "contracts.md").read_text()


def test_every_avro_field_is_described_under_its_record() -> None:
    for path in sorted((REPO / "app" / "schemas").glob("*.avsc")):
        schema = json.loads(path.read_text())
        bullet = re.search(rf"^- `{schema['name']}`:(.*?)(?=^- |^\n|\Z)", CONTRACTS, re.M | re.S)
        assert bullet, f"{schema['name']} has no entry in docs/contracts.md"
        for field in schema["fields"]:
            assert f"`{field['name']}`" in bullet.group(1), f"{schema['name']}.{field['name']} is not described"


def test_every_topic_is_listed_and_no_link_leaves_the_repository() -> None:
    from agents.topics import ALL_TOPICS
    from app.settings import get_settings

    prefix = get_settings().topic_prefix
    for topic in ALL_TOPICS:
        for name in topic.topics:
            assert f"`{name.removeprefix(prefix)}`" in CONTRACTS, name
    for doc in (REPO / "docs").glob("*.md"):
        assert "../" not in doc.read_text(), f"{doc.name} links outside the repository"
