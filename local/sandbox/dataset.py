"""The sandbox's registry: seed companies from ``data/companies.json`` plus a generated population."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.sandbox.population import big_company, generate, history_company, real_named

Record = dict[str, Any]
DATA_FILE = Path(__file__).parent / "data" / "companies.json"
# Real company names (issue #21: the search benchmark types them), registered after the generated population.
REAL_NAMES_FILE = Path(__file__).parent / "data" / "real_names.txt"


def real_names(path: Path = REAL_NAMES_FILE) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


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
        registry.add(history_company(data["generated"]["historyCompany"]))
        for record in generate(population, seed, set(registry.companies)):
            registry.add(record)
        if population:
            for record in real_named(real_names(), seed, set(registry.companies)):
                registry.add(record)
        return registry


def is_active(registration: Record) -> bool:
    """A company or vestiging is active until it is marked inactive or has ended (``datumEinde``)."""
    return bool(registration.get("actief", True)) and not registration.get("datumEinde")


def is_registration_active(record: Record, branch: Record | None) -> bool:
    """A vestiging can end while its company goes on; it cannot outlive its company."""
    return is_active(record) and (branch is None or is_active(branch))


def listed_branches(record: Record) -> list[Record]:
    """The vestigingen Basisprofiel and Naamgeving list: an active company's current ones.

    An inactive company keeps the vestigingen it had when it ended (they ended with it).
    """
    branches = list(record.get("vestigingen", []))
    return [branch for branch in branches if is_active(branch)] if is_active(record) else branches


def is_commercial(branch: Record) -> bool:
    return bool(branch.get("handelsnamen"))


def branch_names(branch: Record) -> list[str]:
    return list(branch.get("handelsnamen") or ([branch["naam"]] if branch.get("naam") else []))


def search_names(record: Record, branch: Record | None) -> tuple[list[str], list[str]]:
    """The current and the expired names Zoeken's ``naam`` matches for one registration.

    The rechtspersoon is found by its own names (statutory name, name, "ook genoemd"), not by the
    trade names of its vestigingen; a vestiging by its trade names or, when non-commercial, by its
    name and "ook genoemd". Expired names (``vervallenNamen``) belong to the level they are stored on.
    """
    if branch is None:
        current = [record.get("statutaireNaam"), record.get("naam"), record.get("ookGenoemd")]
        expired = record.get("vervallenNamen", [])
    elif is_commercial(branch):
        current, expired = list(branch["handelsnamen"]), branch.get("vervallenNamen", [])
    else:
        current = [branch.get("naam") or record.get("naam"), branch.get("ookGenoemd") or record.get("ookGenoemd")]
        expired = branch.get("vervallenNamen") or record.get("vervallenNamen", [])
    return list(dict.fromkeys(name for name in current if name)), list(expired)
