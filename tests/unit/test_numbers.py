"""Identifier parsing: what a person types -> what KVK expects, or an error naming the rule."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvkgate.domain.numbers import (
    HouseNumber,
    NumberFormatError,
    kvk_checksum_matches,
    parse_branch_number,
    parse_house_number,
    parse_kvk_number,
    parse_postcode,
    parse_rsin,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("68750110", "68750110"),
        ("6875 0110", "68750110"),
        ("68.75.01.10", "68750110"),
        ("68-750-110", "68750110"),
        ("  69599084 ", "69599084"),
        ("01036576", "01036576"),  # leading zero kept; fails mod-11 yet is a real number
        ("24484189", "24484189"),
    ],
)
def test_kvk_number_is_normalised_and_never_padded(typed: str, expected: str) -> None:
    assert parse_kvk_number(typed) == expected


@pytest.mark.parametrize(
    ("typed", "rule"),
    [
        ("1234", "length"),
        ("1036576", "length"),  # seven digits: not padded to 01036576
        ("123456789", "length"),
        ("6875011O", "digits_only"),  # letter O
        ("６８７５０１１０", "digits_only"),  # full-width digits are not KVK digits
        ("", "empty"),
        (" - . ", "empty"),
        ("69599084\t", "digits_only"),  # only spaces, dots and dashes are separators
        ("1" * 65, "too_long"),
    ],
)
def test_malformed_kvk_number_names_the_rule(typed: str, rule: str) -> None:
    with pytest.raises(NumberFormatError) as caught:
        parse_kvk_number(typed)
    assert caught.value.rule == rule
    assert caught.value.field == "kvkNumber"  # the machine-readable name; the message uses the person's words
    assert "KVK number" in str(caught.value) and "kvkNumber" not in str(caught.value)


def test_kvk_number_must_be_a_string() -> None:
    with pytest.raises(NumberFormatError) as caught:
        parse_kvk_number(68750110)
    assert caught.value.rule == "type"


def test_checksum_is_only_a_hint() -> None:
    assert kvk_checksum_matches("69599084")
    assert not kvk_checksum_matches("01036576")
    assert parse_kvk_number("01036576") == "01036576"


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.lists(st.sampled_from([" ", ".", "-"]), max_size=4))
def test_any_eight_digits_with_separators_round_trip(digits: str, separators: list[str]) -> None:
    typed = digits
    for position, separator in enumerate(separators):
        cut = (position * 3 + 1) % len(typed)
        typed = typed[:cut] + separator + typed[cut:]
    assert parse_kvk_number(typed) == digits


@given(st.text(max_size=20))
def test_kvk_parser_either_returns_eight_ascii_digits_or_names_a_rule(typed: str) -> None:
    try:
        value = parse_kvk_number(typed)
    except NumberFormatError as error:
        assert error.rule in {"length", "digits_only", "empty"}
    else:
        assert len(value) == 8
        assert value.isascii()
        assert value.isdigit()


@pytest.mark.parametrize("typed", ["000038509504", "9900 0054 1921", "990000541921"])
def test_branch_numbers(typed: str) -> None:
    assert len(parse_branch_number(typed)) == 12


def test_branch_number_of_eight_digits_is_rejected() -> None:
    with pytest.raises(NumberFormatError) as caught:
        parse_branch_number("12345678")
    assert caught.value.rule == "length"


@pytest.mark.parametrize(
    "rsin", ["857587973", "992760562", "992235534", "990983419", "992340597", "823807071", "123456782"]
)
def test_known_rsins_pass_the_eleven_test(rsin: str) -> None:
    assert parse_rsin(rsin) == rsin


def test_rsin_with_a_wrong_check_digit_is_rejected() -> None:
    with pytest.raises(NumberFormatError) as caught:
        parse_rsin("857587974")
    assert caught.value.rule == "checksum"


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_exactly_one_check_digit_completes_an_rsin(prefix: str) -> None:
    valid = []
    for digit in "0123456789":
        with contextlib.suppress(NumberFormatError):
            valid.append(parse_rsin(prefix + digit))
    # The check digit is the weighted sum mod 11; when that is 10 no digit works.
    assert len(valid) <= 1


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("1234 ab", "1234AB"), ("8823SJ", "8823SJ"), (" 1034 wl ", "1034WL"), ("3511-BT", "3511BT")],
)
def test_postcode_is_normalised(typed: str, expected: str) -> None:
    assert parse_postcode(typed) == expected


def test_postcode_letters_must_be_ascii() -> None:
    with pytest.raises(NumberFormatError):
        parse_postcode("1234ß")  # "ß".upper() would be "SS"


@pytest.mark.parametrize(
    ("typed", "rule"),
    [
        ("0123AB", "leading_zero"),
        ("1234SA", "unissued_letters"),
        ("1234 sd", "unissued_letters"),
        ("1234SS", "unissued_letters"),
        ("123AB", "format"),
        ("12345A", "format"),
        ("ABCD12", "format"),
        ("", "empty"),
    ],
)
def test_bad_postcodes_name_the_rule(typed: str, rule: str) -> None:
    with pytest.raises(NumberFormatError) as caught:
        parse_postcode(typed)
    assert caught.value.rule == rule
    assert caught.value.field == "postcode"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("3", HouseNumber(3)),
        (17, HouseNumber(17)),
        ("17M", HouseNumber(17, "M")),
        ("17 m", HouseNumber(17, "M")),
        ("3-A", HouseNumber(3, None, "A")),
        ("12a-2", HouseNumber(12, "A", "2")),
        ("163 bis", HouseNumber(163, None, "BIS")),
        ("99999", HouseNumber(99999)),
    ],
)
def test_house_numbers(typed: str | int, expected: HouseNumber) -> None:
    assert parse_house_number(typed) == expected


@pytest.mark.parametrize(
    ("typed", "rule"), [("0", "range"), ("abc", "format"), ("123456", "format"), ("", "empty"), (True, "type")]
)
def test_bad_house_numbers(typed: object, rule: str) -> None:
    with pytest.raises(NumberFormatError) as caught:
        parse_house_number(typed)
    assert caught.value.rule == rule
