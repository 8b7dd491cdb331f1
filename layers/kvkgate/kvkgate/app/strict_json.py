"""Strict JSON for everything kvkgate reads from outside (API bodies, onboarding messages).

Bounded nesting (checked by a scan before the parser recurses, so no recursion limit is ever hit),
bounded numbers and strings, no duplicate keys (two readers of one body must see one request),
no NaN or Infinity, valid Unicode only. Whatever fails is :class:`NotJson` with a reason a person
can read, never a ``RecursionError`` or a retry.
"""

from __future__ import annotations

import json
import math
from typing import Any

from kvkgate.texts import say

# Bodies are flat objects; anything deeper, longer or bigger than this is not a request of ours.
MAX_NESTING = 8
MAX_NUMBER_DIGITS = 20
MAX_STRING_CHARS = 1024


class NotJson(ValueError):
    """Not acceptable JSON; ``why`` says why in the current language."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def loads(raw: bytes, max_string_chars: int = MAX_STRING_CHARS) -> Any:
    """Strict JSON: bounded nesting (checked before parsing, so no recursion limit is ever hit),
    bounded numbers and strings, no duplicate keys, no NaN, valid Unicode only."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotJson(say("body.why.not_utf8")) from None
    if not text.strip():
        raise NotJson(say("body.why.empty"))
    if _nesting(text) > MAX_NESTING:
        raise NotJson(say("body.why.nested", limit=MAX_NESTING))
    try:
        data = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
            parse_constant=_no_constant,
        )
        _check_strings(data, max_string_chars)
        return data
    except _Refused as refused:
        raise NotJson(str(refused)) from None
    except ValueError:  # JSONDecodeError, and int()'s own digit limit
        raise NotJson(say("body.why.syntax")) from None


class _Refused(ValueError):
    pass


def _nesting(text: str) -> int:
    """The deepest nesting of arrays and objects, brackets inside strings not counted."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Two readers of one body must not see two different requests.
            raise _Refused(say("body.why.twice"))
        result[key] = value
    return result


def _check_strings(value: Any, limit: int) -> None:
    """Every key and string is Unicode text of a bounded length (the nesting is bounded already)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, limit)
            _check_strings(item, limit)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, limit)
    elif isinstance(value, str):
        if len(value) > limit:
            raise _Refused(say("body.why.long_string", limit=limit))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused(say("body.why.surrogate")) from None


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _Refused(say("body.why.long_number", limit=MAX_NUMBER_DIGITS))
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS + 8:
        raise _Refused(say("body.why.long_number", limit=MAX_NUMBER_DIGITS))
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(say("body.why.number_range"))
    return number


def _no_constant(name: str) -> Any:
    raise _Refused(say("body.why.constant", name=name))
