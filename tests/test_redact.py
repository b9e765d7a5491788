"""The redactor: built-in patterns, no masks on ordinary numbers, a team's own patterns."""

from __future__ import annotations

import json
import re

import llm_fixtures
import pytest
from llm_fixtures import ScriptedLiteLLM

from workbench import llm
from workbench.redact import make_redactor, redact_pii

isolated_llm = llm_fixtures.isolated_llm
scripted = llm_fixtures.scripted

MODEL = "openai/gpt-4o-mini"
CUSTOMER = {"[CUSTOMER]": r"\bu_[0-9a-f]{10}\b"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cards: Visa, Mastercard, Amex (15 digits: would otherwise read as a phone), 19 digits
        ("card 4111 1111 1111 1111.", "card [CARD]."),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("card 4111111111111111, thanks", "card [CARD], thanks"),
        ("mc 5555 5555 5555 4444 ok", "mc [CARD] ok"),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("visa-13 4222222222222", "visa-13 [CARD]"),
        ("long 6011 1111 1111 1111 110", "long [CARD]"),
        # IBANs, bare and in groups, a word after them kept
        ("IBAN DE89 3704 0044 0532 0130 00", "IBAN [IBAN]"),
        ("to GB82WEST12345698765432 now", "to [IBAN] now"),
        ("pay BE68 5390 0754 7034 THE END", "pay [IBAN] THE END"),
        # US social security numbers
        ("SSN 123-45-6789", "SSN [ID]"),
        ("ssn:536-22-1234;", "ssn:[ID];"),
        # the earlier patterns still hold
        ("write to ana@example.com today", "write to [EMAIL] today"),
        ("call (415) 555-0132 or +44 20 7946 0958", "call [PHONE] or [PHONE]"),
    ],
)
def test_built_in_patterns_mask(text: str, expected: str) -> None:
    assert redact_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order A1000 shipped; order #100234 too",
        "total $1,299.99 (was €1.499,00), 10 000 000 units",
        "due 2024-01-31, 31/01/2024 or 1/2/24",
        "tracking 123456789012 and 940010000000000000000000",  # no checksum, too long
        "ref 4111 1111 1111 1112 and 4111111111111112",  # fail Luhn
        "zeros 0000 0000 0000 0000, amount 1234567890123.45",
        "iban-like DE00 3704 0044 0532 0130 00",  # fails mod-97
        "version 1.2.3 and 192.168.1.1; café ☕",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert redact_pii(text) == text


@pytest.mark.parametrize(
    "number", ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000"]
)
def test_numbers_never_issued_as_ssn_are_not_ids(number: str) -> None:
    assert "[ID]" not in redact_pii(f"ref {number}")  # (the phone rule may still mask them)


def test_a_team_pattern_is_applied_first_with_the_built_ins() -> None:
    redact = make_redactor(CUSTOMER)
    text = "u_0123abcdef (ana@x.org) paid 4111 1111 1111 1111; not u_0123abcdeff"
    assert redact(text) == "[CUSTOMER] ([EMAIL]) paid [CARD]; not u_0123abcdeff"
    # first: an id of yours shaped like a phone number is masked as yours
    phone_shaped = make_redactor({"[ACCOUNT]": re.compile(r"\b\d{3}-\d{3}-\d{4}\b")})
    assert phone_shaped("acct 415-555-0132") == "acct [ACCOUNT]"


def test_without_defaults_only_the_team_patterns_apply() -> None:
    redact = make_redactor(CUSTOMER, defaults=False)
    assert redact("u_0123abcdef at ana@x.org") == "[CUSTOMER] at ana@x.org"


def test_a_mask_is_inserted_literally() -> None:
    assert make_redactor({r"[ID \1]": r"(x)\d+"})("x42") == r"[ID \1]"


@pytest.mark.parametrize(
    ("extra", "defaults", "error", "match"),
    [
        ({"[X]": "("}, True, ValueError, r"pattern for \[X\] does not compile"),
        ({"[X]": r"\d*"}, True, ValueError, "matches empty text"),
        ({"": r"\d+"}, True, ValueError, "non-empty string"),
        ({"[X]": 5}, True, TypeError, r"str or re\.Pattern"),
        ({"[X]": re.compile(rb"\d+")}, True, TypeError, r"str or re\.Pattern"),
        ([("[X]", r"\d+")], True, TypeError, "dict of mask -> pattern"),
        (None, False, ValueError, "would mask nothing"),
        ({}, False, ValueError, "would mask nothing"),
    ],
)
def test_make_redactor_refuses_what_would_not_work(
    extra: object, defaults: bool, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make_redactor(extra, defaults=defaults)  # type: ignore[arg-type]


@pytest.mark.usefixtures("isolated_llm")
def test_configured_redactor_scrubs_the_request(scripted: ScriptedLiteLLM) -> None:
    llm.configure(model=MODEL, redact=make_redactor(CUSTOMER))
    said = "I am {}, card 3782 822463 10005, SSN 123-45-6789"
    llm.complete([{"role": "user", "content": said.format("u_0123abcdef")}])
    sent = json.dumps(scripted.calls[0]["messages"])
    assert "u_0123abcdef" not in sent and "3782" not in sent and "6789" not in sent
    assert "[CUSTOMER]" in sent and "[CARD]" in sent and "[ID]" in sent
    # The key is made after redaction: another customer saying the same is a cache hit.
    llm.complete([{"role": "user", "content": said.format("u_fedcba9876")}])
    assert len(scripted.calls) == 1
