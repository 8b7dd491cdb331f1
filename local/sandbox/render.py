"""KVK's response shapes, rendered from registry records (reference §2-§6).

Absent data is omitted (never null), flags are "Ja"/"Nee", ``volledigAdres`` is padded the way
each endpoint pads it, and links come as ``_links`` objects or ``links`` arrays.
"""

from __future__ import annotations

from typing import Any

from local.sandbox.dataset import Record, branch_names, is_commercial, is_registration_active, listed_branches

# Spaces between street part and postcode part of volledigAdres, as recorded per endpoint.
PADDING = {"embedded": 33, "vestigingsprofiel": 25, "eigenaar": 1, "vestigingen": 25}


def ja_nee(flag: bool) -> str:
    return "Ja" if flag else "Nee"


def links(shape: str, mapping: dict[str, str]) -> dict[str, Any]:
    if shape == "links":
        return {"links": [{"rel": rel, "href": href} for rel, href in mapping.items()]}
    return {"_links": {rel: {"href": href} for rel, href in mapping.items()}}


def compact(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value not in (None, [], {}, "")}


def _street_part(address: Record) -> str:
    if address.get("postbusnummer") is not None:
        return f"Postbus {address['postbusnummer']}"
    parts = [
        address.get("straatnaam"),
        address.get("huisnummer"),
        address.get("huisletter"),
        address.get("huisnummerToevoeging"),
    ]
    return " ".join(str(part) for part in parts if part not in (None, ""))


def profile_address(address: Record, padding: int, geo: bool) -> dict[str, Any]:
    shielded = bool(address.get("afgeschermd"))
    base: dict[str, Any] = {"type": address["type"], "indAfgeschermd": ja_nee(shielded)}
    if address.get("straatHuisnummer"):
        full = " ".join(address[key] for key in ("straatHuisnummer", "postcodeWoonplaats", "land") if address.get(key))
        return compact(
            {
                **base,
                "volledigAdres": full,
                "straatHuisnummer": address["straatHuisnummer"],
                "postcodeWoonplaats": address.get("postcodeWoonplaats"),
                "regio": address.get("regio"),
                "land": address.get("land"),
            }
        )
    if shielded:
        return compact(
            {**base, "volledigAdres": address.get("plaats"), "plaats": address.get("plaats"), "land": "Nederland"}
        )
    full = _street_part(address) + " " * padding + f"{address['postcode']} {address['plaats']}"
    rendered = compact(
        {
            **base,
            "volledigAdres": full,
            "straatnaam": "Postbus" if address.get("postbusnummer") is not None else address.get("straatnaam"),
            "huisnummer": address.get("huisnummer"),
            "huisletter": address.get("huisletter"),
            "huisnummerToevoeging": address.get("huisnummerToevoeging"),
            "toevoegingAdres": address.get("toevoegingAdres"),
            "postcode": address.get("postcode"),
            "postbusnummer": address.get("postbusnummer"),
            "plaats": address.get("plaats"),
            "land": "Nederland",
        }
    )
    if geo and address.get("geoData"):
        rendered["geoData"] = address["geoData"]
    return rendered


def _sbi(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [{"sbiCode": code, "sbiOmschrijving": text, "indHoofdactiviteit": ja_nee(main)} for code, text, main in rows]


def _names(names: list[str]) -> list[dict[str, Any]]:
    return [{"naam": name, "volgorde": position} for position, name in enumerate(names)]


def _registration(item: Record) -> dict[str, Any]:
    return compact({"datumAanvang": item.get("datumAanvang"), "datumEinde": item.get("datumEinde")})


def main_branch(record: Record) -> Record | None:
    return next((branch for branch in record.get("vestigingen", []) if branch.get("hoofd")), None)


class Renderer:
    def __init__(self, api_root: str, shape: str) -> None:
        self.root = api_root  # e.g. http://127.0.0.1:8089/test/api
        self.shape = shape

    def _links(self, **mapping: str) -> dict[str, Any]:
        # ``self_`` because ``self`` cannot be a keyword argument of a method.
        return links(self.shape, {rel.rstrip("_"): self.root + path for rel, path in mapping.items()})

    def vestiging(self, record: Record, branch: Record, *, geo: bool) -> dict[str, Any]:
        kvk, number = record["kvkNummer"], branch["vestigingsnummer"]
        commercial = is_commercial(branch)
        data = compact(
            {
                "vestigingsnummer": number,
                "kvkNummer": kvk,
                "rsin": record.get("rsin") if record.get("statutaireNaam") else None,
                "indNonMailing": branch.get("indNonMailing", record.get("indNonMailing")),
                "formeleRegistratiedatum": branch.get("formeleRegistratiedatum"),
                "materieleRegistratie": _registration(branch),
                "statutaireNaam": record.get("statutaireNaam"),
                "eersteHandelsnaam": branch_names(branch)[0] if branch_names(branch) else None,
                "indHoofdvestiging": ja_nee(bool(branch.get("hoofd"))),
                "indCommercieleVestiging": ja_nee(commercial),
                "voltijdWerkzamePersonen": branch.get("voltijd"),
                "totaalWerkzamePersonen": branch.get("totaal"),
                "deeltijdWerkzamePersonen": branch.get("deeltijd"),
                "handelsnamen": _names(branch.get("handelsnamen", [])) if commercial else None,
                "adressen": [profile_address(a, PADDING["vestigingsprofiel"], geo) for a in branch.get("adressen", [])],
                "websites": branch.get("websites"),
                "sbiActiviteiten": _sbi(branch.get("sbi", [])),
            }
        )
        return data | self._links(self_=f"/v1/vestigingsprofielen/{number}", basisprofiel=f"/v1/basisprofielen/{kvk}")

    def embedded_main_branch(self, record: Record, branch: Record, *, geo: bool) -> dict[str, Any]:
        kvk, number = record["kvkNummer"], branch["vestigingsnummer"]
        data = compact(
            {
                "vestigingsnummer": number,
                "kvkNummer": kvk,
                "formeleRegistratiedatum": branch.get("formeleRegistratiedatum"),
                "materieleRegistratie": _registration(branch),
                "eersteHandelsnaam": branch_names(branch)[0] if branch_names(branch) else None,
                "indHoofdvestiging": "Ja",
                "indCommercieleVestiging": ja_nee(is_commercial(branch)),
                "totaalWerkzamePersonen": branch.get("totaal"),
                "adressen": [profile_address(a, PADDING["embedded"], geo) for a in branch.get("adressen", [])],
                "websites": branch.get("websites"),
            }
        )
        return data | self._links(
            self_=f"/v1/basisprofielen/{kvk}/hoofdvestiging",
            vestigingen=f"/v1/basisprofielen/{kvk}/vestigingen",
            basisprofiel=f"/v1/basisprofielen/{kvk}",
            vestigingsprofiel=f"/v1/vestigingsprofielen/{number}",
        )

    def eigenaar(self, record: Record, *, geo: bool) -> dict[str, Any]:
        kvk = record["kvkNummer"]
        without_branches = not record.get("vestigingen")
        data = compact(
            {
                "rsin": record.get("rsin"),
                "rechtsvorm": record.get("rechtsvorm"),
                "uitgebreideRechtsvorm": record.get("uitgebreideRechtsvorm"),
                "datumUitschrijving": record.get("datumEinde"),
                "adressen": [profile_address(a, PADDING["eigenaar"], geo) for a in record.get("eigenaarAdressen", [])]
                if without_branches
                else None,
                "websites": record.get("websites") if without_branches else None,
            }
        )
        return data | self._links(self_=f"/v1/basisprofielen/{kvk}/eigenaar", basisprofiel=f"/v1/basisprofielen/{kvk}")

    def basisprofiel(self, record: Record, *, geo: bool) -> dict[str, Any]:
        kvk = record["kvkNummer"]
        main = main_branch(record)
        embedded = {"eigenaar": self.eigenaar(record, geo=geo)}
        if main is not None:
            embedded["hoofdvestiging"] = self.embedded_main_branch(record, main, geo=geo)
        data = compact(
            {
                "kvkNummer": kvk,
                "indNonMailing": record.get("indNonMailing"),
                "naam": record.get("naam"),
                "formeleRegistratiedatum": record.get("formeleRegistratiedatum"),
                "materieleRegistratie": _registration(record),
                "totaalWerkzamePersonen": record.get("totaalWerkzamePersonen") if record.get("vestigingen") else None,
                "statutaireNaam": record.get("statutaireNaam"),
                "handelsnamen": _names(record.get("handelsnamen", [])),
                "sbiActiviteiten": _sbi(record.get("sbi", [])),
                "_embedded": embedded,
            }
        )
        paths = {"self_": f"/v1/basisprofielen/{kvk}"}
        if record.get("vestigingen"):
            paths["vestigingen"] = f"/v1/basisprofielen/{kvk}/vestigingen"
        return data | self._links(**paths)

    def vestigingen(self, record: Record) -> dict[str, Any]:
        kvk = record["kvkNummer"]
        branches = listed_branches(record)
        commercial = sum(1 for branch in branches if is_commercial(branch))
        items = []
        for branch in branches:
            address = next((a for a in branch.get("adressen", []) if a["type"] == "bezoekadres"), None)
            items.append(
                compact(
                    {
                        "vestigingsnummer": branch["vestigingsnummer"],
                        "kvkNummer": kvk,
                        "eersteHandelsnaam": branch_names(branch)[0] if branch_names(branch) else None,
                        "indHoofdvestiging": ja_nee(bool(branch.get("hoofd"))),
                        "indAdresAfgeschermd": ja_nee(bool(address and address.get("afgeschermd"))),
                        "indCommercieleVestiging": ja_nee(is_commercial(branch)),
                        "volledigAdres": profile_address(address, PADDING["vestigingen"], False).get("volledigAdres")
                        if address
                        else None,
                    }
                )
                | self._links(vestigingsprofiel=f"/v1/vestigingsprofielen/{branch['vestigingsnummer']}")
            )
        data = {
            "kvkNummer": kvk,
            "aantalCommercieleVestigingen": commercial,
            "aantalNietCommercieleVestigingen": len(branches) - commercial,
            "totaalAantalVestigingen": len(branches),
            "vestigingen": items,
        }
        return data | self._links(
            self_=f"/v1/basisprofielen/{kvk}/vestigingen", basisprofiel=f"/v1/basisprofielen/{kvk}"
        )

    def naamgeving(self, record: Record) -> dict[str, Any]:
        kvk = record["kvkNummer"]
        branches = []
        for branch in listed_branches(record):
            number = branch["vestigingsnummer"]
            if is_commercial(branch):
                entry = {
                    "vestigingsnummer": number,
                    "eersteHandelsnaam": branch["handelsnamen"][0],
                    "handelsnamen": _names(branch["handelsnamen"]),
                }
            else:
                entry = compact(
                    {
                        "vestigingsnummer": number,
                        "naam": branch.get("naam") or record.get("naam"),
                        "ookGenoemd": branch.get("ookGenoemd") or record.get("ookGenoemd"),
                    }
                )
            branches.append(entry | self._links(vestigingsprofiel=f"/v1/vestigingsprofielen/{number}"))
        data = compact(
            {
                "kvkNummer": kvk,
                "rsin": record.get("rsin"),
                "statutaireNaam": record.get("statutaireNaam"),
                "naam": record.get("naam"),
                "ookGenoemd": record.get("ookGenoemd"),
                "startdatum": record.get("datumAanvang"),
                "einddatum": record.get("datumEinde"),
                "vestigingen": branches,
            }
        )
        return data | self._links(self_=f"/v1/naamgevingen/kvknummer/{kvk}", basisprofiel=f"/v1/basisprofielen/{kvk}")

    # -- Zoeken ----------------------------------------------------------------------------

    def zoek_item(
        self,
        record: Record,
        branch: Record | None,
        *,
        name: str | None,
        expired_name: str | None = None,
        address: Record | None = None,
        searched_address: bool,
        rsin: bool,
        include_active: bool,
    ) -> dict[str, Any]:
        """One Zoeken item; ``name``/``expired_name`` are the names that matched, ``address`` the one searched on."""
        kvk = record["kvkNummer"]
        if branch is None:
            kind = "rechtspersoon"
            shown = address or next(iter(record.get("eigenaarAdressen", [])), None)
            default_name = record.get("statutaireNaam") or record.get("naam")
        else:
            kind = "hoofdvestiging" if branch.get("hoofd") else "nevenvestiging"
            shown = address or next((a for a in branch.get("adressen", []) if a["type"] == "bezoekadres"), None)
            default_name = next(iter(branch_names(branch)), record.get("naam"))
        item = compact(
            {
                "kvkNummer": kvk,
                "rsin": record.get("rsin") if rsin else None,
                "vestigingsnummer": branch["vestigingsnummer"] if branch else None,
                "naam": name or default_name,
                "adres": zoek_address(shown, searched_address) if shown else None,
                "type": kind,
                "actief": ja_nee(is_registration_active(record, branch)) if include_active else None,
                "vervallenNaam": expired_name,
            }
        )
        if record.get("deregisteredBefore2010"):
            return item
        paths = {"basisprofiel": f"/v1/basisprofielen/{kvk}"}
        if branch is not None:
            paths["vestigingsprofiel"] = f"/v1/vestigingsprofielen/{branch['vestigingsnummer']}"
        return item | self._links(**paths)


def zoek_address(address: Record, searched_address: bool) -> dict[str, Any]:
    """Zoeken shows street and place; postcode and number only when they were searched on."""
    if address.get("straatHuisnummer"):
        return {
            "buitenlandsAdres": compact(
                {
                    "type": address["type"],
                    "straatHuisnummer": address["straatHuisnummer"],
                    "postcodeWoonplaats": address.get("postcodeWoonplaats"),
                    "land": address.get("land"),
                }
            )
        }
    if address.get("afgeschermd"):
        return {"binnenlandsAdres": {"type": "postadres", "plaats": address["plaats"]}}
    inner: dict[str, Any] = {
        "type": address["type"] if address["type"] == "bezoekadres" else "postadres",
        "straatnaam": address.get("straatnaam"),
    }
    if searched_address:
        inner |= {
            "huisnummer": address.get("huisnummer"),
            "huisletter": address.get("huisletter"),
            "postbusnummer": address.get("postbusnummer"),
            "postcode": address.get("postcode"),
        }
    inner["plaats"] = address.get("plaats")
    return {"binnenlandsAdres": compact(inner)}
