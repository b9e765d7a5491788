"""Masking of personal data in text before it leaves the machine.

A redactor is any callable ``str -> str``. :func:`redact_pii` is the built-in one (e-mail
addresses and phone numbers); :func:`redact_messages` applies a redactor to every piece of
text in a chat request, including tool-call arguments, so :mod:`workbench.llm` can scrub a
request in one place before it is sent and before its cache key is computed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Redactor = Callable[[str], str]
"""A function that returns its input with sensitive parts masked."""

EMAIL_MASK = "[EMAIL]"
"""What :func:`redact_pii` puts in place of an e-mail address."""

PHONE_MASK = "[PHONE]"
"""What :func:`redact_pii` puts in place of a phone number."""

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
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


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15 or _DATE.fullmatch(text) or _THOUSANDS.fullmatch(text):
        return text
    return PHONE_MASK


def redact_pii(text: str) -> str:
    """Mask e-mail addresses and phone numbers in ``text``.

    Meant as a conservative default for traces that hold customer messages; it catches common
    written forms, not every possible one. Pass your own function to
    ``wb.llm.configure(redact=...)`` for stricter rules (names, account numbers, ...).

    Args:
        text: Any text.

    Returns:
        The text with e-mail addresses replaced by ``[EMAIL]`` and phone numbers (7 to 15
        digits, with separators or a leading ``+``) by ``[PHONE]``.

    Examples:
        >>> redact_pii("Mail ana@example.com or call +1 415-555-0132.")
        'Mail [EMAIL] or call [PHONE].'
        >>> redact_pii("Order 2024-01-31 shipped")
        'Order 2024-01-31 shipped'
    """
    return _PHONE.sub(_mask_phone, _EMAIL.sub(EMAIL_MASK, text))


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
        redact: The redactor, e.g. :func:`redact_pii`.

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
