"""Dutch or English, as the caller asks: Accept-Language for the API, clientMetadata (or the
setting) for the pre-sign-up trigger, DEFAULT_LANGUAGE for the onboarding events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kvkgate import root
from kvkgate.app.presignup import SignUpRefused
from local.lambda_runtime import LambdaContext, functions, load_handler
from tests.api.conftest import Answer, Api

NOT_REGISTERED_NL = "KVK-nummer 12345678 is niet ingeschreven bij KVK."
NOT_REGISTERED_EN = "KVK number 12345678 is not registered with KVK."


def validate(api: Api, language: str | None, **fields: Any) -> Answer:
    headers = {"accept-language": language} if language is not None else {}
    return api.call("POST", "/v1/validations", fields, headers=headers)


@pytest.mark.parametrize(
    ("header", "message", "content_language"),
    [
        ("nl-NL,nl;q=0.9", NOT_REGISTERED_NL, "nl"),
        ("nl", NOT_REGISTERED_NL, "nl"),
        ("en", NOT_REGISTERED_EN, "en"),
        (None, NOT_REGISTERED_EN, "en"),
        ("de-DE,de;q=0.9", NOT_REGISTERED_EN, "en"),
    ],
)
def test_reasons_come_in_the_language_the_caller_asks_for(
    api: Api, header: str | None, message: str, content_language: str
) -> None:
    answer = validate(api, header, kvkNumber="12345678")
    assert answer.body["reasons"] == [{"code": "NOT_REGISTERED", "message": message, "field": "kvkNumber"}]
    assert answer.headers["content-language"] == content_language


def test_problems_and_field_errors_in_dutch_with_english_codes_and_fields(api: Api) -> None:
    answer = api.call("POST", "/v1/validations", {"tradeName": "x"}, headers={"accept-language": "nl"})
    assert (answer.status, answer.body["code"], answer.body["title"]) == (400, "INVALID_REQUEST", "Ongeldig verzoek")
    assert answer.body["errors"] == [{"field": "kvkNumber", "message": "KVK-nummer: dit veld is verplicht."}]
    search = api.call("GET", "/v1/companies", query="q=a", headers={"accept-language": "nl"})
    assert search.body["errors"][0]["field"] == "q" and "tekens" in search.body["errors"][0]["message"]
    malformed = validate(api, "nl", kvkNumber="1234")
    assert malformed.body["reasons"][0] == {
        "code": "INVALID_FORMAT",
        "message": "Het KVK-nummer moet precies 8 cijfers hebben, niet 4.",
        "field": "kvkNumber",
    }


# The machine-readable names of the request's fields: never in a Dutch sentence a person reads.
ENGLISH_FIELD_NAMES = ("kvkNumber", "tradeName", "houseNumber", "branchNumber", "includeInactive")


@pytest.mark.parametrize(
    "fields",
    [
        {"kvkNumber": "1234"},
        {"kvkNumber": "12ab5678"},
        {"kvkNumber": "68750110", "branchNumber": "12"},
        {"kvkNumber": "68750110", "rsin": "123456789"},
        {"kvkNumber": "68750110", "houseNumber": "3"},
        {"kvkNumber": "68750110", "postcode": "0123 AB", "houseNumber": "3"},
        {"kvkNumber": "68750110", "postcode": "1234 AB", "houseNumber": "x"},
        {"kvkNumber": 68750110},
    ],
)
def test_dutch_messages_for_bad_input_name_fields_in_dutch(api: Api, fields: dict[str, Any]) -> None:
    """Issue #21: "kvkNumber moet precies 8 cijfers hebben" and "Bij houseNumber hoort ook een postcode"
    told a Dutch person the program's field names; each message now names the field in Dutch, at its field."""
    answer = validate(api, "nl", **fields)
    items = answer.body["errors"] if answer.status == 400 else answer.body["reasons"]
    assert items, answer.body
    for item in items:
        assert item["field"] in fields or item["field"] == "postcode", item  # machine-readable, English
        assert not [name for name in ENGLISH_FIELD_NAMES if name in item["message"]], item
        assert "'" not in item["message"], item
    dutch = " ".join(item["message"] for item in items)
    assert any(word in dutch for word in ("KVK-nummer", "vestigingsnummer", "RSIN", "postcode", "huisnummer")), dutch


def test_a_house_number_without_postcode_is_an_error_at_the_postcode_in_dutch(api: Api) -> None:
    answer = validate(api, "nl", kvkNumber="68750110", houseNumber="3")
    assert answer.status == 400
    assert answer.body["errors"] == [
        {"field": "postcode", "message": "Vul ook de postcode in: bij een huisnummer hoort een postcode."}
    ]


def test_the_default_language_is_a_setting(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_LANGUAGE", "nl")
    root.reset()
    assert validate(api, None, kvkNumber="12345678").body["reasons"][0]["message"] == NOT_REGISTERED_NL
    assert validate(api, "en-GB", kvkNumber="12345678").body["reasons"][0]["message"] == NOT_REGISTERED_EN


def sign_up(metadata: dict[str, str] | None) -> SignUpRefused:
    event = {
        "version": "1",
        "triggerSource": "PreSignUp_SignUp",
        "userName": "u-1",
        "request": {"userAttributes": {"custom:kvk_number": "12345678"}, "clientMetadata": metadata},
        "response": {},
    }
    spec = functions()["PreSignUpFunction"]
    with pytest.raises(SignUpRefused) as refused:
        load_handler(spec)(event, LambdaContext(spec))
    return refused.value


def test_the_sign_up_refusal_is_dutch_unless_the_app_asks_for_english(api: Api) -> None:
    """The template's SignupMessageLanguage (default nl) is in the environment the fixture set."""
    assert str(sign_up(None)) == NOT_REGISTERED_NL
    assert str(sign_up({"language": "en"})) == NOT_REGISTERED_EN
    assert str(sign_up({"language": "fr"})) == NOT_REGISTERED_NL


def test_onboarding_results_speak_the_default_language(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_LANGUAGE", "nl")
    root.reset()
    spec = functions()["OnboardingFunction"]
    body = json.dumps({"detail-type": "CustomerSignedUp", "detail": {"customerId": "c-nl", "kvkNumber": "12345678"}})
    record = {
        "messageId": "m-nl",
        "receiptHandle": "r",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }
    published: list[dict[str, Any]] = []

    class Capture:
        def publish(self, detail_type: str, detail: dict[str, Any], source: str | None = None) -> None:
            published.append(detail)

    root.install(root.Overrides(publisher=Capture()))
    assert load_handler(spec)({"Records": [record]}, LambdaContext(spec)) == {"batchItemFailures": []}
    assert published[0]["reasons"][0]["message"] == NOT_REGISTERED_NL
