"""The documents a new user reads: every relative link resolves (file and heading) inside the
repository, none points outside it, and the release files are there and agree on the version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kvkgate
from tests.conftest import ROOT

SKIPPED_DIRECTORIES = {".git", ".venv", ".venv-sam", ".venv-checkov", ".aws-sam", "test-artifacts", "node_modules"}
LINK = re.compile(r"!?\[(?:[^\]\n]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
REFERENCE = re.compile(r"^\s*\[[^\]\n]+\]:\s*(\S+)", re.M)
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def documents() -> list[Path]:
    found = []
    for path in ROOT.rglob("*.md"):
        parts = set(path.relative_to(ROOT).parts)
        if not parts & SKIPPED_DIRECTORIES and not any(part.endswith(".egg-info") for part in parts):
            found.append(path)
    return sorted(found)


def links(text: str) -> list[str]:
    prose = FENCE.sub("", text)  # a link inside a code block is an example, not a link
    return LINK.findall(prose) + REFERENCE.findall(prose)


def anchors(markdown: Path) -> set[str]:
    """Headings as GitHub makes them into anchors."""
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", markdown.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    for target in links(document.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ... are not files here
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        assert resolved.is_relative_to(ROOT), f"{document.name} links outside the repository: {target}"
        assert resolved.exists(), f"{document.name} links to {target}, which does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{document.name} links to {target}: no such heading"


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_document_names_a_path_outside_the_repository(document: Path) -> None:
    for quoted in re.findall(r"`(\.\./[^`\s]+)`", document.read_text()):
        assert (document.parent / quoted).resolve().is_relative_to(ROOT), f"{document.name} names {quoted}"


def test_the_link_check_sees_links() -> None:
    """Guards the guard: the README's links are found, and a broken one would be."""
    found = links((ROOT / "README.md").read_text())
    assert "docs/deploy.md" in found and "events/README.md" in found and "docs/demo.png" in found
    assert links("see [it](missing.md#x) and\n```\n[not](a-link.md)\n```") == ["missing.md#x"]


def test_the_release_files_are_there() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    for name in ("CHANGELOG.md", "CONTRIBUTING.md", "docs/deploy.md", "events/README.md"):
        assert (ROOT / name).is_file(), name


def test_the_newest_release_in_the_changelog_is_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
    assert headings[0] == "Unreleased"
    assert headings[1] == kvkgate.__version__
    assert re.search(rf"^## \[{re.escape(kvkgate.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)


def test_the_version_is_written_in_one_place() -> None:
    """Nothing else spells the release version out: the layer's package metadata reads it."""
    version = kvkgate.__version__
    assert 'version = { attr = "kvkgate.__version__" }' in (ROOT / "layers/kvkgate/pyproject.toml").read_text()
    sources = [*ROOT.joinpath("layers/kvkgate").rglob("*.py"), *ROOT.joinpath("functions").rglob("*.py")]
    sources += [ROOT / "template.yaml", *ROOT.joinpath("layers/kvkgate").glob("*.toml")]
    spelled = [path for path in sources if f'"{version}"' in path.read_text() or f"'{version}'" in path.read_text()]
    assert spelled == [ROOT / "layers/kvkgate/kvkgate/__init__.py"]
