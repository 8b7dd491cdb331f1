"""The sandbox's registry: seed companies from ``data/companies.json`` plus a generated population."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.sandbox.population import big_company, generate

Record = dict[str, Any]
DATA_FILE = Path(__file__).parent / "data" / "companies.json"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased words without diacritics: KVK's ``naam`` search matches whole words."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(char for char in folded if not unicodedata.combining(char)))


@dataclass
class Registry:
    companies: dict[str, Record] = field(default_factory=dict)
    branches: dict[str, tuple[Record, Record]] = field(default_factory=dict)
    by_rsin: dict[str, Record] = field(default_factory=dict)

    def add(self, record: Record) -> None:
        self.companies[record["kvkNummer"]] = record
        if record.get("rsin"):
            self.by_rsin[record["rsin"]] = record
        for branch in record.get("vestigingen", []):
            self.branches[branch["vestigingsnummer"]] = (record, branch)

    @classmethod
    def load(cls, population: int = 5000, seed: int = 20261129, data_file: Path = DATA_FILE) -> Registry:
        data = json.loads(data_file.read_text(encoding="utf-8"))
        registry = cls()
        for record in data["companies"]:
            registry.add(record)
        registry.add(big_company(data["generated"]["bigCompany"]))
        for record in generate(population, seed, set(registry.companies)):
            registry.add(record)
        return registry


def is_active(record: Record) -> bool:
    return bool(record.get("actief", True))


def is_commercial(branch: Record) -> bool:
    return bool(branch.get("handelsnamen"))


def branch_names(branch: Record) -> list[str]:
    return list(branch.get("handelsnamen") or ([branch["naam"]] if branch.get("naam") else []))


def company_names(record: Record) -> list[str]:
    names = [
        record.get("naam"),
        record.get("statutaireNaam"),
        record.get("ookGenoemd"),
        *record.get("handelsnamen", []),
    ]
    return list(dict.fromkeys(name for name in names if name))
