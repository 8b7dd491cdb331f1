"""A deterministic population of generated companies for load tests and benchmarks.

Same seed, same companies: KVK numbers, names, vestigingen, inactive ones, shielded and foreign
addresses, expired names. Records use the same shape as ``data/companies.json``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

Record = dict[str, Any]

SURNAMES = [
    "De Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "De Boer",
    "Mulder",
    "De Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Van Leeuwen",
    "Dekker",
    "Brouwer",
    "De Wit",
    "Dijkstra",
    "Smits",
    "De Graaf",
    "Van der Meer",
    "Van der Linden",
    "Kok",
    "Jacobs",
    "De Haan",
    "Vermeulen",
    "Van den Berg",
    "Van Dijk",
    "Van Beek",
    "Willems",
    "Hoekstra",
    "Koster",
    "Prins",
    "Post",
    "Kuipers",
    "Veenstra",
    "Schouten",
    "Van Vliet",
    "Huisman",
    "Boer",
    "Kramer",
    "Van Wijk",
    "Scholten",
    "Peeters",
    "Bosman",
]
TRADES = [
    ("Bakkerij", "10711", "Brood- en banketbakkerijen"),
    ("Installatiebedrijf", "43221", "Loodgieters"),
    ("Schildersbedrijf", "43341", "Schilders"),
    ("Hoveniersbedrijf", "81301", "Hoveniers"),
    ("Autobedrijf", "45112", "Handel in personenauto's"),
    ("Transport", "49410", "Goederenvervoer over de weg"),
    ("Adviesbureau", "70221", "Organisatieadviesbureaus"),
    ("Kapsalon", "96021", "Haarverzorging"),
    ("Fietsenwinkel", "47641", "Winkels in fietsen"),
    ("Bouwbedrijf", "41200", "Algemene burgerlijke en utiliteitsbouw"),
    ("Drukkerij", "18129", "Drukkerijen"),
    ("Tandartspraktijk", "86230", "Tandartspraktijken"),
    ("Architectenbureau", "71111", "Architecten"),
    ("Webdesign", "62010", "Ontwikkelen van software"),
    ("Schoonmaakbedrijf", "81211", "Interieurreiniging"),
    ("Catering", "56210", "Eventcatering"),
    ("Fysiotherapie", "86912", "Fysiotherapeuten"),
    ("Accountantskantoor", "69201", "Accountants"),
]
BRANDS = ["Noord", "Zuid", "Centrum", "Express", "Totaal", "Plus", "Groep", "Services", "& Zonen", "Holland", "Design"]
PLACES = [
    ("Amsterdam", "1011", ["Damrak", "Kalverstraat", "Prinsengracht", "Overtoom"]),
    ("Rotterdam", "3011", ["Coolsingel", "Witte de Withstraat", "Meent"]),
    ("Utrecht", "3511", ["Oudegracht", "Biltstraat", "Nachtegaalstraat"]),
    ("'s-Gravenhage", "2511", ["Spui", "Laan van Meerdervoort", "Frederik Hendriklaan"]),
    ("Eindhoven", "5611", ["Stratumseind", "Kruisstraat"]),
    ("Groningen", "9711", ["Herestraat", "Oosterstraat"]),
    ("Tilburg", "5038", ["Heuvelstraat", "Piusstraat"]),
    ("Almere", "1315", ["Stationsplein", "Grote Markt"]),
    ("Breda", "4811", ["Ginnekenweg", "Haagdijk"]),
    ("Nijmegen", "6511", ["Molenstraat", "Lange Hezelstraat"]),
    ("Zwolle", "8011", ["Diezerstraat", "Assendorperstraat"]),
    ("Leeuwarden", "8911", ["Nieuwestad", "Voorstreek"]),
    ("Maastricht", "6211", ["Wycker Brugstraat", "Boschstraat"]),
    ("Dordrecht", "3311", ["Voorstraat", "Blaauwweg"]),
]
FOREIGN = [
    ("12 Rue de Rivoli", "75004 Parijs", "Frankrijk"),
    ("Königsallee 20", "40212 Düsseldorf", "Duitsland"),
    ("Meir 50", "2000 Antwerpen", "België"),
]
# Words no current generated name contains, so an expired name is found only as an expired name.
FORMER_WORDS = ["Handelsonderneming", "Compagnie", "Handelshuis", "Werkplaats", "Atelier"]
FORMER_SHARE = 0.05
LEGAL_FORMS = [
    # (rechtsvorm, uitgebreideRechtsvorm, how the name is formed, has statutes, share)
    ("Eenmanszaak", "Eenmanszaak", "{trade} {surname}", False, 40),
    ("Besloten Vennootschap", "Besloten Vennootschap met gewone structuur", "{surname} {trade} B.V.", True, 30),
    ("Vennootschap onder firma", "Vennootschap onder firma", "{trade} {surname} V.O.F.", False, 10),
    ("Stichting", "Stichting", "Stichting {trade} {surname}", True, 8),
    ("Vereniging", "Vereniging met volledige rechtsbevoegdheid", "Vereniging {surname} {brand}", True, 4),
    ("Naamloze Vennootschap", "Naamloze Vennootschap met gewone structuur", "{surname} {brand} N.V.", True, 3),
    ("Coöperatie", "Coöperatie met uitgesloten aansprakelijkheid", "Coöperatie {trade} {brand} U.A.", True, 3),
    ("Commanditaire Vennootschap", "Commanditaire Vennootschap", "{surname} {trade} C.V.", False, 2),
]


def rsin_for(seed_digits: int) -> str:
    """A 9-digit number that passes the 11-proef, derived from ``seed_digits``."""
    base = seed_digits
    while True:
        prefix = f"{base % 100_000_000:08d}"
        weighted = sum(int(digit) * weight for digit, weight in zip(prefix, range(9, 1, -1), strict=True))
        check = weighted % 11
        if check < 10:
            return prefix + str(check)
        base += 1


def kvk_numbers(start: int, taken: set[str]) -> Iterator[str]:
    """8-digit numbers that pass the mod-11 test most modern KVK numbers pass, skipping ``taken``."""
    number = start
    while True:
        text = f"{number:08d}"
        if text not in taken and sum(int(d) * w for d, w in zip(text, range(8, 0, -1), strict=True)) % 11 == 0:
            yield text
        number += 1


def _date(rng: random.Random, first_year: int = 1995) -> str:
    return f"{rng.randint(first_year, 2025)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def _address(rng: random.Random, *, foreign: bool, shielded: bool) -> Record:
    if foreign:
        street, postcode_place, country = rng.choice(FOREIGN)
        return {
            "type": "bezoekadres",
            "straatHuisnummer": street,
            "postcodeWoonplaats": postcode_place,
            "land": country,
        }
    place, prefix, streets = rng.choice(PLACES)
    letters = rng.choice(["AA", "AB", "BC", "CD", "EK", "GH", "JK", "LM", "NP", "RT", "VW", "XZ"])
    address: Record = {
        "type": "bezoekadres",
        "straatnaam": rng.choice(streets),
        "huisnummer": rng.randint(1, 250),
        "postcode": f"{int(prefix) + rng.randint(0, 8)}{letters}",
        "plaats": place,
    }
    if rng.random() < 0.15:
        address["huisletter"] = rng.choice("ABCD")
    if shielded:
        address["afgeschermd"] = True
    return address


def _branch(rng: random.Random, number: str, *, main: bool, names: list[str], sbi: list[Any], record: Record) -> Record:
    staff = rng.randint(0, 40)
    branch: Record = {
        "vestigingsnummer": number,
        "hoofd": main,
        "indNonMailing": rng.choice(["Ja", "Nee"]),
        "formeleRegistratiedatum": record["formeleRegistratiedatum"],
        "datumAanvang": record["datumAanvang"],
        "voltijd": staff,
        "deeltijd": 0,
        "totaal": staff,
        "adressen": [_address(rng, foreign=record["_foreign"] and main, shielded=record["_shielded"])],
        "sbi": sbi,
    }
    if names:
        branch["handelsnamen"] = names
    else:
        branch["naam"] = record["naam"]
    if record.get("datumEinde"):
        branch["datumEinde"] = record["datumEinde"]
    return branch


def _add_former_name(rng: random.Random, record: Record) -> None:
    """The company's former name, expired on the legal entity and on its hoofdvestiging."""
    former = f"{rng.choice(FORMER_WORDS)} {rng.choice(SURNAMES)}"
    record["vervallenNamen"] = [former]
    record["vestigingen"][0]["vervallenNamen"] = [former]


def generate(count: int, seed: int, taken: set[str]) -> list[Record]:
    """``count`` companies, deterministic for a given ``seed``."""
    rng = random.Random(seed)
    # A stream of its own: adding expired names must not change any other generated value.
    former_rng = random.Random(f"vervallenNamen-{seed}")
    numbers = kvk_numbers(80_000_000, taken)
    forms = [form for form in LEGAL_FORMS for _ in range(form[4])]
    records = []
    for index in range(count):
        rechtsvorm, uitgebreid, pattern, statutes, _ = rng.choice(forms)
        trade, sbi_code, sbi_text = rng.choice(TRADES)
        surname, brand = rng.choice(SURNAMES), rng.choice(BRANDS)
        name = pattern.format(trade=trade, surname=surname, brand=brand)
        kvk = next(numbers)
        record: Record = {
            "evidence": "generated",
            "kvkNummer": kvk,
            "naam": name,
            "rechtsvorm": rechtsvorm,
            "uitgebreideRechtsvorm": uitgebreid,
            "indNonMailing": rng.choice(["Ja", "Nee"]),
            "formeleRegistratiedatum": _date(rng),
            "datumAanvang": _date(rng),
            "sbi": [[sbi_code, sbi_text, True]],
            "_foreign": rng.random() < 0.02,
            "_shielded": rng.random() < 0.03,
        }
        if statutes:
            record["statutaireNaam"] = name
            record["rsin"] = rsin_for(rng.randint(10_000_000, 99_999_999))
            record["zoekenRechtspersoon"] = True
        if rng.random() < 0.08:
            record["actief"] = False
            record["datumEinde"] = _date(rng, 2015)
        commercial = rechtsvorm not in {"Stichting", "Vereniging"} or rng.random() < 0.3
        branch_count = rng.choices([1, 2, 3, 4], weights=[70, 18, 8, 4])[0]
        all_names: list[str] = []
        branches = []
        for position in range(branch_count):
            names = [name] if position == 0 else [f"{name.split(' B.V.')[0]} {rng.choice(BRANDS)}"]
            if commercial and rng.random() < 0.3:
                names.append(f"{trade} {rng.choice(BRANDS)}")
            names = list(dict.fromkeys(names)) if commercial else []
            all_names.extend(n for n in names if n not in all_names)
            number = f"97{index:06d}{position:04d}"
            branches.append(_branch(rng, number, main=position == 0, names=names, sbi=record["sbi"], record=record))
        record["handelsnamen"] = all_names
        record["vestigingen"] = branches
        record["totaalWerkzamePersonen"] = sum(branch["totaal"] for branch in branches)
        del record["_foreign"], record["_shielded"]
        if former_rng.random() < FORMER_SHARE:
            _add_former_name(former_rng, record)
        records.append(record)
    return records


def _large_bv(spec: Record, evidence: str, registered: str, sbi: list[Any]) -> Record:
    """The company-level fields of a BV with many branches; the caller adds the branches."""
    return {
        "evidence": evidence,
        "kvkNummer": spec["kvkNummer"],
        "naam": spec["naam"],
        "statutaireNaam": spec["naam"],
        "rsin": spec["rsin"],
        "rechtsvorm": "Besloten Vennootschap",
        "uitgebreideRechtsvorm": "Besloten Vennootschap met gewone structuur",
        "indNonMailing": "Nee",
        "formeleRegistratiedatum": registered,
        "datumAanvang": registered,
        "zoekenRechtspersoon": True,
        "sbi": [sbi],
        "_foreign": False,
        "_shielded": False,
    }


def big_company(spec: Record) -> Record:
    """A BV with ``spec['vestigingen']`` branches (KVK's 90006577 has 1000)."""
    rng = random.Random(spec["kvkNummer"])
    name = spec["naam"]
    record = _large_bv(
        spec, "reference §8.1 (BV with 1000 vestigingen), generated", "20191001", ["47111", "Supermarkten", True]
    )
    branches = [
        _branch(
            rng,
            f"99{spec['kvkNummer'][-4:]}{position:06d}",
            main=position == 0,
            names=[name if position == 0 else f"{name.split(' B.V.')[0]} {position}"],
            sbi=record["sbi"],
            record=record,
        )
        for position in range(spec["vestigingen"])
    ]
    record["handelsnamen"] = [branch["handelsnamen"][0] for branch in branches]
    record["vestigingen"] = branches
    record["totaalWerkzamePersonen"] = sum(branch["totaal"] for branch in branches)
    del record["_foreign"], record["_shielded"]
    return record


def history_company(spec: Record) -> Record:
    """An active BV whose first ``spec['endedVestigingen']`` registrations are ended nevenvestigingen.

    Zoeken lists nevenvestigingen first, so with ``inclusiefInactieveRegistraties=true`` the first
    pages hold only ``actief: Nee`` items and the active ones come after them: a client that reads
    one page concludes, wrongly, that the company is inactive.
    """
    kvk, name = spec["kvkNummer"], spec["naam"]
    rng = random.Random(kvk)
    evidence = "invented (sandbox): more than 100 registrations, the first Zoeken page only inactive ones"
    record = _large_bv(spec, evidence, "20050301", ["47191", "Warenhuizen", True])
    stem = name.split(" B.V.")[0]
    ended, active = spec["endedVestigingen"], spec["activeNevenvestigingen"]

    def branch(position: int, *, main: bool, branch_name: str) -> Record:
        number = f"98{kvk[-6:]}{position:04d}"
        return _branch(rng, number, main=main, names=[branch_name], sbi=record["sbi"], record=record)

    branches = [
        branch(position, main=False, branch_name=f"{stem} Filiaal {position}") for position in range(1, ended + 1)
    ]
    for closed in branches:
        closed["datumEinde"] = f"{rng.randint(2008, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    branches += [
        branch(position, main=False, branch_name=f"{stem} Filiaal {position}")
        for position in range(ended + 1, ended + active + 1)
    ]
    branches.append(branch(0, main=True, branch_name=name))
    current = [item for item in branches if not item.get("datumEinde")]
    record["handelsnamen"] = [current[-1]["handelsnamen"][0], *(item["handelsnamen"][0] for item in current[:-1])]
    record["vestigingen"] = branches
    record["totaalWerkzamePersonen"] = sum(item["totaal"] for item in current)
    del record["_foreign"], record["_shielded"]
    return record


def _legal_form(name: str) -> tuple[str, str, bool]:
    """(rechtsvorm, uitgebreideRechtsvorm, has statutes) as a real name's own suffix says."""
    folded = name.casefold()
    if folded.endswith(("b.v.", " bv")):
        return "Besloten Vennootschap", "Besloten Vennootschap met gewone structuur", True
    if folded.endswith(("n.v.", " nv")):
        return "Naamloze Vennootschap", "Naamloze Vennootschap met gewone structuur", True
    if "stichting" in folded:
        return "Stichting", "Stichting", True
    if folded.endswith(("u.a.", "w.a.")) or "coöperati" in folded:
        return "Coöperatie", "Coöperatie met uitgesloten aansprakelijkheid", True
    return "Eenmanszaak", "Eenmanszaak", False


def real_named(names: list[str], seed: int, taken: set[str]) -> list[Record]:
    """Active companies with the given real names (one hoofdvestiging each, some a nevenvestiging);
    numbers, addresses and dates are made up, deterministically for a ``seed``."""
    rng = random.Random(f"real-names-{seed}")
    numbers = kvk_numbers(70_000_000, taken)
    records = []
    for index, name in enumerate(names):
        rechtsvorm, uitgebreid, statutes = _legal_form(name)
        _, sbi_code, sbi_text = rng.choice(TRADES)
        record: Record = {
            "evidence": "real name (local/sandbox/data/real_names.txt), made-up registration",
            "kvkNummer": next(numbers),
            "naam": name,
            "rechtsvorm": rechtsvorm,
            "uitgebreideRechtsvorm": uitgebreid,
            "indNonMailing": "Nee",
            "formeleRegistratiedatum": _date(rng),
            "datumAanvang": _date(rng),
            "sbi": [[sbi_code, sbi_text, True]],
            "_foreign": False,
            "_shielded": False,
        }
        if statutes:
            record["statutaireNaam"] = name
            record["rsin"] = rsin_for(rng.randint(10_000_000, 99_999_999))
            record["zoekenRechtspersoon"] = True
        branches = [_branch(rng, f"95{index:06d}0000", main=True, names=[name], sbi=record["sbi"], record=record)]
        if rng.random() < 0.2:
            number = f"95{index:06d}0001"
            branches.append(_branch(rng, number, main=False, names=[name], sbi=record["sbi"], record=record))
        record["handelsnamen"] = [name]
        record["vestigingen"] = branches
        record["totaalWerkzamePersonen"] = sum(branch["totaal"] for branch in branches)
        del record["_foreign"], record["_shielded"]
        records.append(record)
    return records
