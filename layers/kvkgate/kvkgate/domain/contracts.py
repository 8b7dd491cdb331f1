"""The public contracts (design §4, §5): request and response models in English camelCase.

Requests reject unknown fields and wrong types; identifiers are normalised later, by the domain,
so that a malformed KVK number is a verdict (``INVALID_FORMAT``), not a transport error.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictStr,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from kvkgate.domain.numbers import NumberFormatError, parse_house_number, parse_postcode
from kvkgate.texts import has, say

MAX_BODY_BYTES = 8 * 1024

Verdict = Literal["valid", "invalid", "unverified"]
CheckState = Literal["pass", "fail", "unknown"]
# ``unconfirmed``: the free register search could not confirm the name and no paid lookup was made
# for it (the pre-sign-up trigger never pays; the worker's daily allowance was spent).
MatchState = Literal["match", "partial", "mismatch", "unconfirmed", "skipped", "unknown"]
NameType = Literal["statutoryName", "name", "tradeName", "alsoKnownAs", "expiredName"]
Source = Literal["kvk", "cache", "none"]

SHORT_TEXT = 64  # characters
# A customer id as the customer's own systems write it (the watch list keys on it).
CustomerId = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
ShortText = Annotated[StrictStr, Field(max_length=SHORT_TEXT)]
# At least one character that is not a space or a control character (same pattern in docs/openapi.yaml).
NameText = Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=r"[^\x00-\x20\x7f]")]


class Contract(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(by_alias=True, mode="json")
        return data

    def response_headers(self) -> dict[str, str]:
        """Headers an HTTP answer carrying this contract adds (none unless a contract says otherwise)."""
        return {}


class Request(Contract):
    # No whitespace stripping here: the documented limits (docs/openapi.yaml) apply to what was sent.
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        """An optional field is left out, not sent as null (one way to say "not given")."""
        if isinstance(data, dict):
            nulls = [name for name, value in data.items() if value is None]
            if nulls:
                raise PydanticCustomError(
                    "null_field", "{fields}: leave the field out instead of sending null", {"fields": ", ".join(nulls)}
                )
        return data


class ValidationRequest(Request):
    kvk_number: ShortText
    trade_name: NameText | None = None
    postcode: ShortText | None = None
    house_number: str | None = None
    # Issue #21: a branch (vestigingsnummer) of this KVK number, and its RSIN. Like the KVK number,
    # their format is judged by the domain, so a malformed one is a verdict at its field, not a 400.
    branch_number: ShortText | None = None
    rsin: ShortText | None = None

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        return None if value is None else _checked(parse_postcode, value, "postcode")

    @field_validator("house_number", mode="before")
    @classmethod
    def _house_number(cls, value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON's 17.0 is the number 17
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(say("number.house_number_type"))
        parsed = _checked(parse_house_number, value, "houseNumber")
        return f"{parsed.number}{parsed.letter or ''}" + (f"-{parsed.addition}" if parsed.addition else "")

    @model_validator(mode="after")
    def _house_number_needs_postcode(self) -> ValidationRequest:
        if self.house_number is not None and self.postcode is None:
            raise PydanticCustomError(FIELD_RULE, say("number.house_number_needs_postcode"), {"field": "postcode"})
        return self


class WatchRequest(ValidationRequest):
    """``POST /v1/watches``: validate, and watch the company for ``customerId`` once it is decided (issue #23)."""

    customer_id: CustomerId


class TradeNameCheckRequest(Request):
    kvk_number: ShortText
    trade_name: NameText


def _checked(parse: Any, value: Any, field: str) -> Any:
    try:
        return parse(value, field)
    except NumberFormatError as error:
        raise ValueError(error.message) from None


# A rule about two fields together (a house number needs a postcode): the error names the field to fix.
FIELD_RULE = "field_rule"


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``{"field", "message"}``, field names as the client sent them, messages
    in the current language (kvkgate's own rules already are; pydantic's by their error type),
    each naming the field in words a person reads ("KVK-nummer: ...")."""
    problems = []
    for item in error.errors(include_url=False):
        context = item.get("ctx") or {}
        field = ".".join(str(part) for part in item["loc"]) or str(context.get("field") or "body")
        kind = str(item["type"])
        if kind in ("value_error", FIELD_RULE):
            message = str(item["msg"]).removeprefix("Value error, ")  # kvkgate's own rules name the field
        else:
            template = f"field.{kind}" if has(f"field.{kind}") else "field.invalid"
            message = labelled(field, say(template, **{str(name): value for name, value in context.items()}))
        problems.append({"field": field, "message": message})
    return problems


def labelled(field: str, message: str) -> str:
    """``message`` preceded by the field's name in the reader's language, when the field has one."""
    key = f"label.{field.rsplit('.', 1)[-1]}"
    if not has(key):
        return message
    return say("field.labelled", label=say(key), message=message[:1].lower() + message[1:])


class Reason(Contract):
    code: str
    message: str
    # The request field the reason is about (a format error, a branch that is not this company's),
    # so a form can show it at that field. Left out of the JSON when the reason is about no one field.
    field: str | None = None

    @model_serializer(mode="wrap")
    def _without_empty_field(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("field") is None:
            data.pop("field", None)
        return data


class WordDifference(Contract):
    """A typed word and the registered word it differs from; null where one side has none."""

    typed: str | None
    registered: str | None


class NameCheck(Contract):
    result: MatchState
    score: float | None = None
    matched_name: str | None = None
    name_type: NameType | None = None
    # The registered name compared with (matchedName, or the closest one on a mismatch) and how the words differ.
    compared_with: str | None = None
    differences: list[WordDifference] = Field(default_factory=list)


class AddressCheck(Contract):
    result: MatchState


# A branch of this KVK number (``inactive``: it is, but it has ended), or an RSIN of it.
BranchState = Literal["match", "inactive", "mismatch", "skipped", "unknown"]
IdentifierState = Literal["match", "mismatch", "skipped", "unknown"]


class BranchCheck(Contract):
    result: BranchState


class RsinCheck(Contract):
    result: IdentifierState


class Checks(Contract):
    format: CheckState
    registered: CheckState
    active: CheckState
    trade_name: NameCheck
    address: AddressCheck
    branch_number: BranchCheck = BranchCheck(result="skipped")
    rsin: RsinCheck = RsinCheck(result="skipped")


class CompanyBrief(Contract):
    name: str | None
    city: str | None


class Meta(Contract):
    source: Source
    stale: bool
    checked_at: str

    @classmethod
    def at(cls, now: dt.datetime, source: Source, stale: bool = False) -> Meta:
        return cls(source=source, stale=stale, checked_at=now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


class ValidationResult(Contract):
    kvk_number: str
    verdict: Verdict
    reasons: list[Reason]
    checks: Checks
    company: CompanyBrief | None
    meta: Meta
    # When asking again may give a decision (an unverified verdict): the HTTP answer's Retry-After.
    retry_after: float | None = Field(None, exclude=True)

    def response_headers(self) -> dict[str, str]:
        if self.verdict != "unverified" or self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class Address(Contract):
    street: str | None = None
    house_number: int | None = None
    house_letter: str | None = None
    house_number_addition: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str | None = None


class MainBranch(Contract):
    branch_number: str | None
    address: Address | None


class SbiActivity(Contract):
    code: str | None
    description: str | None
    main: bool | None


class CompanyProfile(Contract):
    """What KVK's company profile says, in the project's words."""

    kvk_number: str
    name: str | None
    statutory_name: str | None
    legal_form: str | None
    active: bool
    registration_date: str | None
    trade_names: list[str]
    main_branch: MainBranch | None
    sbi_activities: list[SbiActivity]
    employees: int | None


class CompanySummary(CompanyProfile):
    meta: Meta


class BestMatch(Contract):
    name: str
    name_type: NameType
    branch_number: str | None


class ScoredName(Contract):
    name: str
    name_type: NameType
    score: float
    result: Literal["match", "partial", "mismatch"]


class TradeNameCheckResult(Contract):
    kvk_number: str
    trade_name: str
    result: Literal["match", "partial", "mismatch"]
    score: float
    best_match: BestMatch | None
    compared_with: str | None
    differences: list[WordDifference]
    candidates: list[ScoredName]
    meta: Meta


class SearchRequest(Request):
    """``GET /v1/companies?q=…``: what a person typed into a sign-up form, and optional filters."""

    q: StrictStr = Field(max_length=200)
    city: ShortText | None = None
    postcode: ShortText | None = None
    house_number: ShortText | None = None
    include_inactive: bool = False

    @field_validator("q")
    @classmethod
    def _q(cls, value: str) -> str:
        # One text, one cache key: invisible format characters (a zero-width space pasted along, a BOM)
        # are dropped and the text composed, so they cannot make everyone's cached answer a new KVK call.
        value = "".join(char for char in unicodedata.normalize("NFC", value) if unicodedata.category(char) != "Cf")
        if any(unicodedata.category(char) == "Cc" and not char.isspace() for char in value):
            raise PydanticCustomError("unprintable", "letters, digits and punctuation only")  # NUL is no name
        trimmed = value.strip(" ")  # spaces only: the rule docs/openapi.yaml states as a pattern
        if len(trimmed) < 2:
            raise PydanticCustomError("blank_query", "at least 2 characters besides spaces")
        if len(trimmed) > 100:
            raise PydanticCustomError("string_too_long", "at most 100 characters", {"max_length": 100})
        return value

    @field_validator("city", "postcode", "house_number", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        # A form sends its empty filter fields as ``city=``: that asks for no filter, not for a blank one.
        # Too long is too long, blank or not (the length limit is the same for every caller).
        blank = isinstance(value, str) and len(value) <= SHORT_TEXT and not value.strip()
        return None if blank else value

    @field_validator("city")
    @classmethod
    def _city(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise PydanticCustomError("unprintable", "letters, digits and punctuation only")
        return None if value is None else value.strip()

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        return None if value is None else _checked(parse_postcode, value, "postcode")

    @field_validator("house_number")
    @classmethod
    def _house_number(cls, value: str | None) -> str | None:
        return None if value is None else str(_checked(parse_house_number, value, "houseNumber").number)

    @model_validator(mode="after")
    def _address_together(self) -> SearchRequest:
        if (self.postcode is None) != (self.house_number is None):
            missing = "houseNumber" if self.house_number is None else "postcode"
            raise PydanticCustomError(FIELD_RULE, say("search.postcode_and_house_number"), {"field": missing})
        return self


SuggestionKind = Literal["main branch", "branch", "legal entity"]


class Suggestion(Contract):
    kvk_number: str
    branch_number: str | None
    name: str
    kind: SuggestionKind | None
    city: str | None
    street: str | None
    active: bool


class SearchResult(Contract):
    results: list[Suggestion]
    total: int
    meta: Meta
