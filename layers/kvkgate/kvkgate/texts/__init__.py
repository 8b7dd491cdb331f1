"""Every human-readable text kvkgate produces, in English and Dutch (``en.json``, ``nl.json`` beside this file).

Codes and field names never change with the language; only ``message``, problem ``title`` and
``detail``, field errors, the pre-sign-up refusal and the demo page do. The language is chosen
per request by the entry point (``Accept-Language`` for the API, ``clientMetadata`` or a setting
for the pre-sign-up trigger) and held in a context variable, so the domain says what it means
(:func:`say`) without passing a language through every call.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

Language = Literal["en", "nl"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
HERE = Path(__file__).parent
_current: contextvars.ContextVar[Language] = contextvars.ContextVar("kvkgate_language", default="en")


@functools.cache
def catalogue(language: Language) -> dict[str, str]:
    texts: dict[str, str] = json.loads((HERE / f"{language}.json").read_text(encoding="utf-8"))
    return texts


def say(key: str, **values: object) -> str:
    """The text ``key`` in the current language, with ``values`` filled in."""
    return catalogue(_current.get())[key].format(**values)


def has(key: str) -> bool:
    return key in catalogue(_current.get())


def current() -> Language:
    return _current.get()


@contextlib.contextmanager
def speaking(language: Language) -> Iterator[None]:
    """Texts made inside are in ``language``."""
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def supported(value: object) -> Language | None:
    """``nl``, ``nl-NL``, ``EN``... as a language kvkgate speaks, or None."""
    if not isinstance(value, str):
        return None
    primary = value.strip().split("-")[0].split("_")[0].lower()
    return next((language for language in LANGUAGES if language == primary), None)


def from_accept_language(header: object, default: Language) -> Language:
    """The best language of an ``Accept-Language`` header that kvkgate speaks (RFC 9110 q-values)."""
    if not isinstance(header, str) or not header.strip():
        return default
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate(header.split(",")[:20]):  # a hostile header is not read to its end
        tag, _, parameters = part.strip().partition(";")
        weight = 1.0
        if parameters.strip().startswith("q="):
            try:
                weight = float(parameters.strip()[2:])
            except ValueError:
                continue
        language = supported(tag)
        if language is None or not 0 < weight <= 1:
            continue
        if best is None or weight > best[0]:
            best = (weight, position, language)
    return best[2] if best else default
