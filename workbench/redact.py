r"""Masking of personal data in text before it leaves the machine.

A redactor is any callable ``str -> str``. :func:`make_redactor` builds one from the built-in
patterns (API keys and access tokens, e-mail addresses, IBANs, payment card numbers, US social
security numbers, phone numbers) and a team's own ones, such as customer or account ids;
:data:`redact_pii` is the built-in one. :func:`redact_messages` applies a redactor to every
piece of text in a chat request, including tool-call arguments, so :mod:`workbench.llm` can
scrub a request in one place before it is sent and before its cache key is computed.

Examples:
    >>> redact_pii("Mail ana@example.com or call +1 415-555-0132.")
    'Mail [EMAIL] or call [PHONE].'
    >>> redact_pii("Order A1000 of 2024-01-31: $1,299.00, card 4111-1111-1111-1111")
    'Order A1000 of 2024-01-31: $1,299.00, card [CARD]'
    >>> redact_pii("my key is sk-proj-Xy12ab34cd56ef78gh90ij12, help")
    'my key is [API_KEY], help'
    >>> redact = make_redactor({"[CUSTOMER]": r"\bu_[0-9a-f]{10}\b"})
    >>> redact("u_0123abcdef paid with 4111 1111 1111 1111")
    '[CUSTOMER] paid with [CARD]'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

Redactor = Callable[[str], str]
"""A function that returns its input with sensitive parts masked."""

EMAIL_MASK: Final = "[EMAIL]"
"""What the built-in patterns put in place of an e-mail address."""

PHONE_MASK: Final = "[PHONE]"
"""What the built-in patterns put in place of a phone number."""

CARD_MASK: Final = "[CARD]"
"""What the built-in patterns put in place of a payment card number."""

IBAN_MASK: Final = "[IBAN]"
"""What the built-in patterns put in place of an IBAN (international bank account number)."""

ID_MASK: Final = "[ID]"
"""What the built-in patterns put in place of a US social security number."""

SECRET_MASK: Final = "[API_KEY]"
"""What the built-in patterns put in place of an API key or access token."""

_Replace = Callable[[re.Match[str]], str]

# API keys and access tokens, by the prefixes their issuers publish: OpenAI and Anthropic
# (sk-, sk-proj-, sk-ant-api03-), AWS access key ids, Google API keys, GitHub, Slack and
# Hugging Face tokens. A key pasted into a chat must not travel on to a judge model.
_SECRET = re.compile(
    r"(?<![\w-])(?:sk-[A-Za-z0-9][\w-]{19,}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[\w-]{35}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|hf_[A-Za-z0-9]{30,})(?![\w-])",
    re.ASCII,
)
# Starts only where a run of address characters starts: from every position inside a long
# run (a base64 blob), the search would rescan the rest of it, in quadratic time.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
# An IBAN: country code, two check digits, then 11 to 30 letters or digits, bare or in groups
# of four. The mod-97 check below decides; a word that follows is not part of it.
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])"
)
# A card number: 13 to 19 digits, bare or in groups (4-4-4-4, 4-6-5, 4-4-4-4-3) split by
# spaces or dashes. The Luhn check below decides. Not a part of a longer number or decimal.
_CARD = re.compile(
    r"(?<!\w)(?<!\d[.,])(?:\d{13,19}|\d{4}([ -])\d{3,6}(?:\1\d{3,6}){1,3})(?!\w)(?![.,]\d)"
)
# A US social security number; areas 000, 666 and 900-999, group 00 and serial 0000 are
# never issued.
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
# A phone number: a leading +country code or at least one separator (space, dot, dash,
# parentheses) between digit groups, 7 to 15 digits in all (E.164 allows at most 15). Dates
# (2024-01-31) and thousands groupings (10 000 000) are left alone, as are long digit runs
# without separators, which are more often ids than phone numbers.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d[\d\s.\-()]{5,22}\d"
    r"|\(?\d{2,5}\)?[\s.\-]\d{2,8}(?:[\s.\-]\d{2,8}){0,3})(?![\w])"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4}")
_THOUSANDS = re.compile(r"\d{1,3}(?:[ .,]\d{3})+")


def _literal(mask: str) -> _Replace:
    """Return a replacement that puts ``mask`` in place of any match, read literally."""

    def replace(match: re.Match[str]) -> str:
        return mask

    return replace


def _luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum of card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _iban_valid(code: str) -> bool:
    """Whether a spaceless IBAN has a valid length and passes the ISO 13616 mod-97 check."""
    if not 15 <= len(code) <= 34:
        return False
    moved = code[4:] + code[:4]
    return int("".join(str(int(char, 36)) for char in moved)) % 97 == 1


def _mask_iban(match: re.Match[str]) -> str:
    text = match.group(0)
    groups = text.split(" ")
    for end in range(len(groups), 0, -1):  # the longest valid start, e.g. without "END"
        head = " ".join(groups[:end])
        if _iban_valid(head.replace(" ", "")):
            return IBAN_MASK + text[len(head) :]
    return text


def _mask_card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"[ -]", "", text)
    if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn_valid(digits):
        return CARD_MASK
    return text


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15 or _DATE.fullmatch(text) or _THOUSANDS.fullmatch(text):
        return text
    return PHONE_MASK


_BUILT_IN: Final[tuple[tuple[re.Pattern[str], _Replace], ...]] = (
    (_SECRET, _literal(SECRET_MASK)),  # first: a key's digits must not be taken for a phone
    (_EMAIL, _literal(EMAIL_MASK)),
    (_IBAN, _mask_iban),
    (_CARD, _mask_card),  # before phones: a 15-digit card in groups also reads as a phone
    (_SSN, _literal(ID_MASK)),  # likewise: 123-45-6789
    (_PHONE, _mask_phone),
)


def _extra_rules(
    extra: Mapping[str, str | re.Pattern[str]],
) -> list[tuple[re.Pattern[str], _Replace]]:
    """Compile a team's patterns, refusing ones that can not work as intended."""
    if not isinstance(extra, Mapping):
        raise TypeError(f"extra takes a dict of mask -> pattern, got {type(extra).__name__}")
    rules: list[tuple[re.Pattern[str], _Replace]] = []
    for mask, pattern in extra.items():
        if not isinstance(mask, str) or not mask:
            raise ValueError(
                f"a mask must be a non-empty string such as '[CUSTOMER]', got {mask!r}"
            )
        if isinstance(pattern, str):
            try:
                pattern = re.compile(pattern)
            except re.error as error:
                raise ValueError(f"the pattern for {mask} does not compile: {error}") from error
        if not isinstance(pattern, re.Pattern) or not isinstance(pattern.pattern, str):
            raise TypeError(
                f"the pattern for {mask} must be a str or re.Pattern[str], got {pattern!r}"
            )
        if pattern.fullmatch(""):
            raise ValueError(f"the pattern for {mask} matches empty text; it would mask everywhere")
        rules.append((pattern, _literal(mask)))
    return rules


def make_redactor(
    extra: Mapping[str, str | re.Pattern[str]] | None = None, *, defaults: bool = True
) -> Redactor:
    r"""Return a redactor for the built-in kinds of personal data and, optionally, your own.

    Meant as a conservative default for traces that hold customer messages: it catches
    common written forms, not every possible one. Numbers are masked only when their
    checksum holds (Luhn for cards, mod-97 for IBANs), so order numbers, prices, dates and
    tracking numbers stay readable.

    Args:
        extra: mask -> regular expression (a str or a compiled pattern) for your own ids,
            e.g. ``{"[CUSTOMER]": r"\bu_[0-9a-f]{10}\b"}``. They are applied first, in
            the order given, so a format of yours wins over a built-in one. The mask is
            inserted literally.
        defaults: also apply the built-in patterns, in this order: API keys and access
            tokens by their issuers' prefixes (``sk-``, ``sk-ant-``, ``AKIA``, ``AIza``,
            ``ghp_``, ``xoxb-``, ``hf_``, ...: ``[API_KEY]``), e-mail addresses
            (``[EMAIL]``), IBANs (``[IBAN]``), card numbers (``[CARD]``), US social
            security numbers (``[ID]``), phone numbers of 7 to 15 digits written with
            separators or a leading ``+`` (``[PHONE]``).

    Raises:
        ValueError: for a pattern that does not compile or matches empty text, an empty
            mask, or nothing to apply at all.
        TypeError: for an ``extra`` that is not a mapping of str to pattern.

    Examples:
        >>> make_redactor()("IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789")
        'IBAN [IBAN], SSN [ID]'
        >>> make_redactor({"[ORDER]": r"\bA\d{4}\b"}, defaults=False)("A1000 for ana@x.org")
        '[ORDER] for ana@x.org'
    """
    rules = _extra_rules(extra) if extra is not None else []
    if defaults:
        rules.extend(_BUILT_IN)
    if not rules:
        raise ValueError(
            "make_redactor(defaults=False) needs extra patterns: it would mask nothing"
        )

    def redact(text: str) -> str:
        for pattern, replace in rules:
            text = pattern.sub(replace, text)
        return text

    return redact


redact_pii: Final[Redactor] = make_redactor()
"""The built-in redactor, :func:`make_redactor` with no extra patterns (examples above)."""


def _redact_content(content: Any, redact: Redactor) -> Any:
    if isinstance(content, str):
        return redact(content)
    if isinstance(content, Sequence):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        return [
            {**part, "text": redact(part["text"])}
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            else part
            for part in content
        ]
    return content


def _redact_tool_call(call: Any, redact: Redactor) -> Any:
    if not isinstance(call, Mapping) or not isinstance(call.get("function"), Mapping):
        return call
    function = dict(call["function"])
    if isinstance(function.get("arguments"), str):
        function["arguments"] = redact(function["arguments"])
    return {**call, "function": function}


def redact_messages(
    messages: Sequence[Mapping[str, Any]], redact: Redactor
) -> list[dict[str, Any]]:
    """Return a copy of chat ``messages`` with ``redact`` applied to all their text.

    Covers string contents, the text parts of multimodal contents and the arguments of tool
    calls. The input is not modified.

    Args:
        messages: Chat messages (``{"role": ..., "content": ...}`` dicts).
        redact: The redactor, e.g. :data:`redact_pii`.

    Returns:
        New message dicts with the same keys.

    Examples:
        >>> redact_messages([{"role": "user", "content": "I am bo@x.org"}], redact_pii)
        [{'role': 'user', 'content': 'I am [EMAIL]'}]
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        copy = dict(message)
        if "content" in copy:
            copy["content"] = _redact_content(copy["content"], redact)
        if isinstance(copy.get("tool_calls"), Sequence):
            copy["tool_calls"] = [_redact_tool_call(c, redact) for c in copy["tool_calls"]]
        out.append(copy)
    return out
