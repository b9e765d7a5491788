"""The messages of one trace as they are built, with the trace's failure modes enacted.

A scenario writes through ``Convo``: user turns in the customer's own style, assistant turns
in the language of the reply, tool calls with their results, and a main reply dressed by the
tone, padding and leaks seeded into the trace.
"""

from __future__ import annotations

import json
import random
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import phrases as P

if TYPE_CHECKING:
    from generate import Plan


ALPHANUMERIC = string.ascii_letters + string.digits
INTERNAL_ID = re.compile(r"cust_int_\d+|INT-REF-\d{8}-\d{4}|WH\d-[A-Z]\d{2}-\d{2}")
GREETING = re.compile(
    r"(hi|hello|hey|hiya|hola|buenas|hallo|guten|moin|bonjour|bonsoir|salut)\b", re.I
)
APOLOGIES = (  # openings a curt reply drops
    "I'm sorry, ",
    "I'm sorry about that. ",
    "I'm sorry it hasn't turned up. ",
    "Sorry! ",
    "Sorry about that! ",
    "Sorry to hear that! ",
    "Unfortunately ",
    "Good news: ",
    "Good news, ",
    "That's frustrating, sorry. ",
    "That shouldn't happen, sorry. ",
)


class Convo:
    """The messages of one trace as they are built, enacting the trace's failure modes."""

    def __init__(self, plan: Plan, seed: int) -> None:
        self.plan = plan
        self.rng = random.Random(f"{seed}:{plan.trace_id}")
        self.now = plan.ts
        self.lang = plan.user.lang
        self.reply_lang = "en" if "wrong_language" in plan.modes else self.lang
        self.currency = P.LOCALES[plan.user.locale]["currency"]
        self.internal_ids: list[str] = []
        self.malformed_pending = "malformed_tool_args" in plan.modes
        prompt = P.SYSTEM_PROMPTS["v12" if plan.week == 1 else "v13"]
        system = prompt.format(today=plan.ts.date().isoformat(), locale=plan.user.locale)
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}]

    def has(self, mode: str) -> bool:
        """Whether this trace carries the failure mode ``mode``."""
        return mode in self.plan.modes

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p

    def pick(self, seq: Sequence[Any]) -> Any:
        """One item of ``seq``, drawn with the trace's own random generator."""
        return self.rng.choice(seq)

    def user(self, key: str, tail: str = "", **slots: Any) -> None:
        """Append a user turn drawn from the bank ``key`` in the customer's language."""
        text = self.pick(P.USER[self.lang][key]).format(**slots)
        self.user_text(f"{text} {tail}" if tail else text)

    def user_text(self, text: str) -> None:
        """Append a user turn with this wording, styled like the customer writes."""
        first = not any(m["role"] == "user" for m in self.messages)
        self.messages.append({"role": "user", "content": restyle(self, text, first)})

    def say(self, key: str, **slots: Any) -> str:
        """Assistant wording from the bank ``key``, in the language the reply is written in."""
        return str(
            self.pick(P.BOT[self.reply_lang][key]).format(name=self.plan.user.first, **slots)
        )

    def assistant(self, text: str) -> None:
        """Append a plain assistant turn."""
        self.messages.append({"role": "assistant", "content": text})

    def calls(self, specs: Sequence[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        """One assistant turn calling these tools, then their results; corrupted first if seeded."""
        if self.malformed_pending:
            self.malformed_pending = False
            name, args, _ = specs[0]
            for _ in range(2 if self.chance(0.2) else 1):
                bad = break_json(self.rng, json.dumps(args, ensure_ascii=False))
                error = {"error": "invalid_arguments", "detail": json_error(bad)}
                self._turn([(name, bad, error)])
        self._turn([(name, json.dumps(args, ensure_ascii=False), res) for name, args, res in specs])

    def _turn(self, specs: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Append an assistant turn calling tools with these raw arguments, and the results."""
        content = self.say("checking") if self.chance(0.15) else None
        turn: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": []}
        answers = []
        for name, arguments, result in specs:
            call_id = "call_" + "".join(self.rng.choices(ALPHANUMERIC, k=24))
            fn = {"name": name, "arguments": arguments}
            turn["tool_calls"].append({"id": call_id, "type": "function", "function": fn})
            text = json.dumps(result, ensure_ascii=False)
            answers.append({"role": "tool", "tool_call_id": call_id, "content": text})
            self.internal_ids += INTERNAL_ID.findall(text)
        self.messages += [turn, *answers]

    def call(self, name: str, args: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """One tool call and its result, which is returned for convenience."""
        self.calls([(name, args, result)])
        return result

    def final(self, core: str) -> None:
        """The main reply: the core answer dressed by tone, padding and leaks as seeded."""
        tone = "cold" if self.has("dismissive_tone") else "warm"
        if tone == "cold":
            core = unapologetic(core)
        warmth = 0.6 if self.plan.week == 1 else 0.85  # v13 asks for a warmer tone
        opening = self.say(f"{tone}_open") if tone == "cold" or self.chance(warmth) else ""
        parts = [core]
        if self.has("leaked_internal_id"):
            if not self.internal_ids:
                raise ValueError(f"{self.plan.trace_id}: nothing internal to leak")
            parts.append(self.say("leak", internal_id=self.pick(self.internal_ids)))
        if self.has("overlong_reply"):
            parts += self.rng.sample(P.FILLER[self.plan.intent] + P.FILLER["any"], 6)
        if tone == "cold" or self.chance(warmth - 0.05):
            parts.append(self.say(f"{tone}_close"))
        long_form = "\n" in core or len(parts) > 3
        text = ("\n\n" if long_form else " ").join(parts)
        if opening:
            salutation = long_form or opening.endswith((",", ":"))
            text = opening + ("\n\n" if salutation else " ") + text
        long = len(text) > 1200
        if long != self.has("overlong_reply") or (not long and len(text) > 900):
            raise ValueError(f"{self.plan.trace_id}: reply of {len(text)} chars")
        self.assistant(text)

    def money(self, amount: float) -> str:
        """An amount in the customer's currency, written the way the reply's language does."""
        symbol = {"USD": "$", "CAD": "CA$", "GBP": "£", "EUR": "€"}[self.currency]
        if self.reply_lang == "en":
            return f"{symbol}{amount:,.2f}"
        return f"{amount:,.2f}".replace(",", " ").replace(".", ",") + " €"

    def day(self, when: date | datetime) -> str:
        """A date with its weekday, in the reply's language."""
        names = P.DATE_NAMES[self.reply_lang]
        weekday, month = names["days"][when.weekday()], names["months"][when.month - 1]
        return str(names["format"].format(wd=weekday, d=when.day, m=month))


def unapologetic(text: str) -> str:
    """The text without its opening apology or cheer, as a curt reply would have it."""
    for opening in APOLOGIES:
        if text.startswith(opening):
            rest = text[len(opening) :]
            return rest[0].upper() + rest[1:]
    return text


def break_json(rng: random.Random, text: str) -> str:
    """Corrupt a JSON object the ways models do: quotes, commas, braces, bare values."""
    breakers: list[Callable[[str], str]] = [
        lambda s: s[:-1],
        lambda s: s.replace('"', "'"),
        lambda s: s[:-1] + ", }",
        lambda s: re.sub(r'"(\w+)":', r"\1:", s),
        lambda s: s[: max(3, len(s) * 2 // 3)],
        lambda s: re.sub(r': "([^"]*)"', r": \1", s, count=1),
        lambda s: s.replace(": ", ": ,", 1),
        lambda s: "```json\n" + s + "\n```",
    ]
    for breaker in rng.sample(breakers, len(breakers)):
        bad = breaker(text)
        if json_error(bad):
            return bad
    raise ValueError(f"could not corrupt {text!r}")


def json_error(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return str(exc)
    return ""


def restyle(c: Convo, text: str, first: bool) -> str:
    """Make a user turn read like real traffic: casual on phones, letter-like by email."""
    rng, mobile = c.rng, c.plan.user.channel == "mobile"
    greeted = GREETING.match(text) is not None
    if first and c.plan.user.channel == "email":
        hello, bye = rng.choice(P.EMAIL_WRAP[c.lang])
        body = text if greeted else f"{hello}\n\n{text}"
        return f"{body}\n\n{bye}\n{c.plan.user.first} {c.plan.user.last}"
    if first and not greeted and rng.random() < 0.45:
        hello = rng.choice(P.GREETINGS[c.lang])
        text = f"{hello} {text[0].lower() + text[1:] if hello.endswith(',') else text}"
    if c.lang != "en" and rng.random() < 0.25:
        plain = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in plain if not unicodedata.combining(ch))
    if rng.random() < (0.35 if mobile else 0.15):
        text = text.lower()
    if rng.random() < (0.35 if mobile else 0.15):
        text = text.rstrip(".!?")
    if c.lang == "en" and rng.random() < (0.25 if mobile else 0.1):
        for formal, casual in rng.sample(P.CASUAL_SWAPS, 3):
            text = re.sub(rf"\b{formal}\b", casual, text)
    if rng.random() < 0.12:
        words = text.split(" ")
        long_words = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha()]
        if long_words:
            i = rng.choice(long_words)
            j = rng.randrange(1, len(words[i]) - 2)
            w = words[i]
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
            text = " ".join(words)
    return text
