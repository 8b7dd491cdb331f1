"""Write ``docs/messages.md``: every text a person or a program can read from kvkgate, in Dutch and English,
from the catalogues (``layers/kvkgate/kvkgate/texts``). ``python -m local.messages_doc`` rewrites it; a test
(``tests/unit/test_texts.py``) fails when the page and the catalogues differ."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUES = ROOT / "layers" / "kvkgate" / "kvkgate" / "texts"
PAGE = ROOT / "docs" / "messages.md"
GROUPS = [
    ("reason.", "Reasons of a verdict (`reasons[].message`; `code` is the key's last part)"),
    ("number.", "Identifier rules (format errors, at their field)"),
    ("field.", "Field errors (`errors[].message`, after the field's name)"),
    ("label.", "Field names as a person reads them"),
    ("the.", "Field names inside a sentence"),
    ("search.", "Company search"),
    ("problem.", "Problems (`title`, `detail`)"),
    ("body.", "Request bodies"),
    ("signup.", "Pre-sign-up refusals (shown by Cognito)"),
    ("demo.", "The demo page and <kvk-company-field>"),
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    english = json.loads((CATALOGUES / "en.json").read_text(encoding="utf-8"))
    dutch = json.loads((CATALOGUES / "nl.json").read_text(encoding="utf-8"))
    lines = [
        "# Messages",
        "",
        "Every text kvkgate gives a person (and the few for developers), in Dutch and English, generated from",
        "`layers/kvkgate/kvkgate/texts/{nl,en}.json` by `python -m local.messages_doc` (a test keeps them equal).",
        "`{name}` is filled in when the text is said. Codes and field names (`kvkNumber`) stay English; the texts",
        'name fields in the reader\'s language ("KVK-nummer", "huisnummer") and write KVK without an article.',
        "",
    ]
    done: set[str] = set()
    for prefix, title in GROUPS:
        keys = sorted(key for key in english if key.startswith(prefix))
        if not keys:
            continue
        lines += [f"## {title}", "", "| key | Nederlands | English |", "|---|---|---|"]
        lines += [f"| `{key}` | {_cell(dutch[key])} | {_cell(english[key])} |" for key in keys]
        lines.append("")
        done.update(keys)
    rest = sorted(set(english) - done)
    if rest:
        lines += ["## Other", "", "| key | Nederlands | English |", "|---|---|---|"]
        lines += [f"| `{key}` | {_cell(dutch[key])} | {_cell(english[key])} |" for key in rest]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"{PAGE}: written")


if __name__ == "__main__":
    main()
