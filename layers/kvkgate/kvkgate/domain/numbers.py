"""Dutch business identifiers: parse, normalise, and say exactly which rule failed.

Pure functions, no I/O. Every parser takes what a person typed and returns the canonical
form KVK uses, or raises :class:`NumberFormatError` naming the field and the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kvkgate.texts import has, say

# People type numbers with spaces, dots or dashes ("6875 0110", "68.75.01.10"); KVK wants digits.
# Exactly these three (design §4), so docs/openapi.yaml can state the same rule as a pattern.
_SEPARATORS = re.compile(r"[ .\-]+")
_DIGITS = re.compile(r"[0-9]+")
_POSTCODE = re.compile(r"[0-9]{4}[A-Za-z]{2}")
_HOUSE_NUMBER = re.compile(
    r" *(?P<number>[0-9]{1,5}) *(?P<letter>[A-Za-z](?![A-Za-z0-9]))?"
    r"(?:(?: *[-/] *| +)(?P<addition>[A-Za-z0-9]{1,4}))? *"
)
# PostNL never issues these letter pairs (they carried wartime connotations).
_UNISSUED_POSTCODE_LETTERS = frozenset({"SA", "SD", "SS"})
MAX_INPUT_LENGTH = 64


def _rule(key: str, field: str, **values: object) -> str:
    """A rule's sentence, naming the field as a person reads it ("Het KVK-nummer ...", "The postcode ..."):
    ``field`` itself stays the machine-readable name the error carries."""
    named = say(f"the.{field}") if has(f"the.{field}") else field
    sentence = say(key, field=named, **values)
    return sentence[:1].upper() + sentence[1:]


class NumberFormatError(ValueError):
    """A value is not a well-formed identifier. ``field`` and ``rule`` are machine-readable."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.message = message


def _strip(field: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise NumberFormatError(field, "type", _rule("number.type", field, kind=type(raw).__name__))
    if len(raw) > MAX_INPUT_LENGTH:
        raise NumberFormatError(field, "too_long", _rule("number.too_long", field, limit=MAX_INPUT_LENGTH))
    value = _SEPARATORS.sub("", raw)
    if not value:
        raise NumberFormatError(field, "empty", _rule("number.empty", field))
    return value


def _digits(field: str, raw: object, length: int) -> str:
    value = _strip(field, raw)
    if not _DIGITS.fullmatch(value):
        shown = "".join(char for char in value if char.isprintable())[:20]
        raise NumberFormatError(field, "digits_only", _rule("number.digits_only", field, value=f"‘{shown}’"))
    if len(value) != length:
        raise NumberFormatError(field, "length", _rule("number.length", field, length=length, got=len(value)))
    return value


def parse_kvk_number(raw: object, field: str = "kvkNumber") -> str:
    """Normalise a KVK number to its 8 digits. Leading zeros are kept; nothing is padded.

    No checksum is enforced: many older, valid numbers fail the mod-11 test (reference §9).
    """
    return _digits(field, raw, 8)


def kvk_checksum_matches(kvk_number: str) -> bool:
    """Soft hint only: true when the mod-11 test that most post-2000 numbers pass holds."""
    total = sum(int(digit) * weight for digit, weight in zip(kvk_number, range(8, 0, -1), strict=True))
    return total % 11 == 0


def parse_branch_number(raw: object, field: str = "branchNumber") -> str:
    """Normalise a vestigingsnummer (12 digits, leading zeros kept)."""
    return _digits(field, raw, 12)


def parse_rsin(raw: object, field: str = "rsin") -> str:
    """Normalise an RSIN (9 digits) and check the 11-proef, which every RSIN satisfies."""
    value = _digits(field, raw, 9)
    weighted = sum(int(digit) * weight for digit, weight in zip(value[:8], range(9, 1, -1), strict=True))
    if (weighted - int(value[8])) % 11 != 0:
        raise NumberFormatError(field, "checksum", _rule("number.checksum", field, value=value))
    return value


def parse_postcode(raw: object, field: str = "postcode") -> str:
    """Normalise a Dutch postcode: ``"1234 ab"`` -> ``"1234AB"``."""
    value = _strip(field, raw)
    # Match before upper-casing: "ß".upper() is "SS", and only ASCII letters make a postcode.
    if not _POSTCODE.fullmatch(value):
        raise NumberFormatError(field, "format", _rule("number.postcode_format", field))
    value = value.upper()
    if value[0] == "0":
        raise NumberFormatError(field, "leading_zero", _rule("number.leading_zero", field))
    if value[4:] in _UNISSUED_POSTCODE_LETTERS:
        raise NumberFormatError(field, "unissued_letters", _rule("number.unissued_letters", field, letters=value[4:]))
    return value


@dataclass(frozen=True)
class HouseNumber:
    number: int
    letter: str | None = None
    addition: str | None = None


def parse_house_number(raw: object, field: str = "houseNumber") -> HouseNumber:
    """Split ``"17"``, ``"17M"``, ``"17 M"``, ``"3-A"``, ``"12a-2"`` into number, letter and addition."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise NumberFormatError(field, "type", _rule("number.type_or_number", field))
    if len(raw) > MAX_INPUT_LENGTH:
        raise NumberFormatError(field, "too_long", _rule("number.too_long", field, limit=MAX_INPUT_LENGTH))
    if not raw.strip(" "):
        raise NumberFormatError(field, "empty", _rule("number.empty", field))
    match = _HOUSE_NUMBER.fullmatch(raw)
    if match is None:
        raise NumberFormatError(field, "format", _rule("number.house_number_format", field))
    number = int(match["number"])
    if number == 0:
        raise NumberFormatError(field, "range", _rule("number.range", field))
    letter = match["letter"].upper() if match["letter"] else None
    addition = match["addition"].upper() if match["addition"] else None
    return HouseNumber(number=number, letter=letter, addition=addition)
