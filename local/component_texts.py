"""Write the texts block of ``local/demo/kvk-company-field.js`` from the catalogues (``kvkgate/texts``).

The component carries its own texts (it is one file an integrator copies), so they are generated from
the catalogues the API speaks from, and a test (``tests/unit/test_component.py``) fails when they differ.
``python -m local.component_texts`` rewrites the block.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = ROOT / "local" / "demo" / "kvk-company-field.js"
CATALOGUES = ROOT / "layers" / "kvkgate" / "kvkgate" / "texts"
BLOCK = re.compile(r"(/\* texts:begin[^\n]*\*/\n)(.*?)(/\* texts:end \*/)", re.S)
# The keys the component says (its labels, hints, verdicts; reasons and errors come from the API).
PREFIXES = ("label.", "demo.search.", "demo.verdict.", "demo.kind.", "demo.error")
KEYS = ("demo.checking", "demo.inactive", "demo.optional", "demo.picked", "demo.stale")
LABELS = (
    "label.tradeName",
    "label.kvkNumber",
    "label.postcode",
    "label.houseNumber",
    "label.branchNumber",
    "label.rsin",
)


def texts() -> dict[str, dict[str, str]]:
    chosen = {}
    for language in ("en", "nl"):
        catalogue = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
        keys = [key for key in catalogue if key in KEYS or key in LABELS or key.startswith(PREFIXES[1:])]
        chosen[language] = {key: catalogue[key] for key in sorted(keys)}
    return chosen


def block() -> str:
    return "const TEXTS = " + json.dumps(texts(), ensure_ascii=False, indent=2) + ";\n"


def current() -> str:
    found = BLOCK.search(COMPONENT.read_text(encoding="utf-8"))
    if found is None:
        raise SystemExit(f"{COMPONENT} has no texts block")
    return found.group(2)


def main() -> None:
    source = COMPONENT.read_text(encoding="utf-8")
    COMPONENT.write_text(BLOCK.sub(lambda match: match.group(1) + block() + match.group(3), source), encoding="utf-8")
    print(f"{COMPONENT}: texts written")


if __name__ == "__main__":
    main()
