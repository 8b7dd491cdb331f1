"""<kvk-company-field> carries its own texts (one file to copy): they are the catalogues' words."""

from __future__ import annotations

import re

from local import component_texts


def test_the_components_texts_are_the_catalogues() -> None:
    assert component_texts.current() == component_texts.block(), "run python -m local.component_texts"


def test_the_component_says_every_key_it_uses_in_both_languages() -> None:
    source = component_texts.COMPONENT.read_text(encoding="utf-8")
    used = set(re.findall(r'(?:this\.t\(|announce\()"([a-zA-Z.]+)"', source))
    said = component_texts.texts()
    assert len(used) > 8
    for key in used:
        assert key in said["en"] and key in said["nl"], key
    for kind in ("main branch", "branch", "legal entity"):
        assert f"demo.kind.{kind}" in said["nl"]
    for name in ("tradeName", "kvkNumber", "postcode", "houseNumber", "branchNumber", "rsin"):
        assert f"label.{name}" in said["nl"] and f"label.{name}" in said["en"]


def test_the_component_posts_json_and_asks_in_the_readers_language() -> None:
    source = component_texts.COMPONENT.read_text(encoding="utf-8")
    assert '"Content-Type": "application/json"' in source  # the API refuses any other body (415)
    assert '"Accept-Language": this.language' in source
    assert "import " not in source.split("*/", 1)[1]  # no dependencies
