"""Write the sample traces: an outdoor store's support agent over two weeks, with seeded failures.

Usage: ``python sample_data/generate.py [--out DIR]``. The output depends only on ``SEED``, so
two runs write byte-identical ``traces.jsonl`` and ``ground_truth.csv``. The ground truth lists
the failure modes seeded into each trace; it exists to measure the workbench, which never reads
it. The conversations are built in ``scenarios.py``, their wording is in ``phrases.py``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import phrases as P
from conversation import Convo
from scenarios import SCENARIOS, after_main
from world import weighted

SEED = 1102
N_TRACES = 1200
START = datetime(2026, 11, 2, tzinfo=UTC)
WEEK_2 = START + timedelta(days=7)
HERE = Path(__file__).resolve().parent

# Share of each week's traces seeded with each mode, give or take 15%: (week 1, week 2).
RATES: dict[str, tuple[float, float]] = {
    "ignored_constraint": (0.025, 0.025),
    "wrong_language": (0.028, 0.028),
    "missing_tool_call": (0.032, 0.032),
    "invented_policy": (0.032, 0.032),
    "premature_handoff": (0.022, 0.028),
    "leaked_internal_id": (0.028, 0.028),
    "dismissive_tone": (0.020, 0.020),
    "overlong_reply": (0.020, 0.065),
    "malformed_tool_args": (0.060, 0.020),
}
MODES = tuple(sorted(RATES))
CONFLICTS = (
    {"overlong_reply", "dismissive_tone", "premature_handoff"},
    {"missing_tool_call", "malformed_tool_args"},
    {"missing_tool_call", "leaked_internal_id"},
    {"missing_tool_call", "premature_handoff"},
    {"premature_handoff", "invented_policy"},
    {"premature_handoff", "ignored_constraint"},
    {"premature_handoff", "leaked_internal_id"},
)
INTENTS = {  # intent: (weight for English speakers, weight for the others)
    "order_status": (17, 30),
    "return_exchange": (12, 25),
    "refund_status": (8, 15),
    "product_rec": (14, 0),
    "sizing": (7, 0),
    "change_address": (6, 0),
    "damaged_item": (6, 15),
    "promo_code": (7, 0),
    "cancel_order": (6, 15),
    "warranty": (5, 0),
    "stock_check": (6, 0),
    "shipping_info": (4, 0),
    "account_billing": (3, 0),
}
# Where the answer needs a lookup that a model may skip and invent instead.
LOOKUP_INTENTS = {"order_status", "refund_status", "stock_check", "cancel_order"}
LEAKY_INTENTS = LOOKUP_INTENTS | {"return_exchange", "damaged_item", "change_address", "warranty"}
POLICY_INTENTS = {
    "return_exchange",
    "refund_status",
    "damaged_item",
    "promo_code",
    "warranty",
    "shipping_info",
}
SIMPLE_INTENTS = {  # what the agent can always handle itself
    "order_status",
    "return_exchange",
    "product_rec",
    "sizing",
    "change_address",
    "promo_code",
    "stock_check",
    "shipping_info",
}
CONSTRAINTS = ("no_leather", "budget", "size", "colour", "deadline", "waterproof")
# model: (USD per million prompt tokens, per million completion tokens, ms per completion token)
MODELS = {"gpt-4o-mini-2024-07-18": (0.15, 0.60, 13.0), "gpt-4.1-mini": (0.40, 1.60, 10.0)}


@dataclass(frozen=True)
class User:
    """A customer: who writes, from where, in which language and through which channel."""

    user_id: str
    first: str
    last: str
    locale: str
    utc_offset: int
    channel: str
    street: str
    city: tuple[str, str, str, str]
    internal_id: str

    @property
    def lang(self) -> str:
        """The language the customer writes in ("en", "es", "de" or "fr")."""
        return self.locale[:2]


@dataclass
class Plan:
    """What one trace will be: when, who, about what, and which failures it carries."""

    ts: datetime
    user: User
    intent: str
    model: str
    constraint: str | None
    trace_id: str = ""
    modes: list[str] = field(default_factory=list)

    @property
    def week(self) -> int:
        """1 for the first week (prompt v12), 2 for the second (prompt v13)."""
        return 1 if self.ts < WEEK_2 else 2


ELIGIBLE: dict[str, Callable[[Plan], bool]] = {
    "malformed_tool_args": lambda p: True,
    "missing_tool_call": lambda p: p.user.lang == "en" and p.intent in LOOKUP_INTENTS,
    "leaked_internal_id": lambda p: p.intent in LEAKY_INTENTS,
    "overlong_reply": lambda p: p.user.lang == "en",
    "wrong_language": lambda p: p.user.lang != "en",
    "invented_policy": lambda p: p.user.lang == "en" and p.intent in POLICY_INTENTS,
    "ignored_constraint": lambda p: p.constraint is not None,
    "dismissive_tone": lambda p: p.user.lang == "en",
    "premature_handoff": lambda p: p.user.lang == "en" and p.intent in SIMPLE_INTENTS,
}


def make_users(rng: random.Random, n: int = 900) -> list[User]:
    users = []
    for i in range(n):
        locale = weighted(rng, {k: v["weight"] for k, v in P.LOCALES.items()})
        loc = P.LOCALES[locale]
        users.append(
            User(
                user_id=f"u_{hashlib.sha256(f'{SEED}:user:{i}'.encode()).hexdigest()[:10]}",
                first=rng.choice(loc["first"]),
                last=rng.choice(loc["last"]),
                locale=locale,
                utc_offset=rng.choice(loc["offsets"]),
                channel=weighted(rng, {"web": 55, "mobile": 35, "email": 10}),
                street=f"{rng.randint(2, 2400)} {rng.choice(loc['streets'])}",
                city=rng.choice(loc["cities"]),
                internal_id=f"cust_int_{rng.randint(10000, 99999)}",
            )
        )
    return users


def draw_timestamp(rng: random.Random, user: User) -> datetime:
    """A UTC time in the two weeks, busiest at the customer's lunch time and evening."""
    while True:
        day = rng.choices(
            range(-1, 15), weights=[0.95, *[1.0, 1.05, 1.0, 0.95, 0.9, 0.8, 0.95] * 2, 1.0]
        )[0]
        hour = rng.choices(range(24), weights=P.LOCAL_HOUR_WEIGHTS)[0]
        local = START + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
        ts = local - timedelta(hours=user.utc_offset) + timedelta(milliseconds=rng.randrange(1000))
        if START <= ts < START + timedelta(days=14):
            return ts


def make_plans(rng: random.Random) -> list[Plan]:
    users = make_users(rng)
    user_weights = [3 if rng.random() < 0.2 else 1 for _ in users]
    plans = []
    for _ in range(N_TRACES):
        user = rng.choices(users, weights=user_weights)[0]
        column = 0 if user.lang == "en" else 1
        intent = weighted(rng, {k: v[column] for k, v in INTENTS.items()})
        wants = intent == "product_rec" and rng.random() < 0.7
        plans.append(
            Plan(
                ts=draw_timestamp(rng, user),
                user=user,
                intent=intent,
                model=weighted(rng, {"gpt-4o-mini-2024-07-18": 85, "gpt-4.1-mini": 15}),
                constraint=rng.choice(CONSTRAINTS) if wants else None,
            )
        )
    plans.sort(key=lambda p: p.ts)
    for i, plan in enumerate(plans, start=1):
        plan.trace_id = f"tr_{i:06d}"
    return plans


def compatible(modes: Sequence[str], mode: str) -> bool:
    return len(modes) < 2 and not any(mode in c and c.intersection(modes) for c in CONFLICTS)


def assign_modes(rng: random.Random, plans: list[Plan]) -> None:
    """Seed each mode into its share of each week's eligible traces, now and then as a second."""
    for week in (1, 2):
        in_week = [p for p in plans if p.week == week]
        for mode, rates in RATES.items():
            k = round(rates[week - 1] * len(in_week) * rng.uniform(0.85, 1.15))
            pool = [p for p in in_week if ELIGIBLE[mode](p) and compatible(p.modes, mode)]
            if len(pool) < k:
                raise ValueError(f"only {len(pool)} week-{week} traces can carry {mode}, need {k}")
            keyed = sorted(pool, key=lambda p: rng.random() ** (1 / (0.6 if p.modes else 1.0)))
            for plan in keyed[-k:]:
                plan.modes.append(mode)
    for plan in plans:
        plan.modes.sort()


def usage(c: Convo) -> tuple[int, int, int, float]:
    """Prompt and completion tokens summed over the model calls, latency and cost."""
    tokens = [len(json.dumps(m, ensure_ascii=False)) // 4 + 4 for m in c.messages]
    prompt = completion = 0
    latency = 0.0
    per_token_ms = MODELS[c.plan.model][2]
    for i, message in enumerate(c.messages):
        if message["role"] == "assistant":
            context = 1100 + sum(tokens[:i])
            prompt += context
            completion += tokens[i]
            latency += 280 + context * 0.015 + tokens[i] * per_token_ms * c.rng.uniform(0.7, 1.4)
        elif message["role"] == "tool":
            latency += 150 * c.rng.lognormvariate(0, 0.6)
    if c.chance(0.02):
        latency *= c.rng.uniform(2.5, 6)
    price_in, price_out, _ = MODELS[c.plan.model]
    cost = (prompt * price_in + completion * price_out) / 1e6
    return prompt, completion, round(latency), round(cost, 6)


def feedback(c: Convo) -> dict[str, str] | None:
    """Thumbs on about one trace in seven: down more often on failures, but noisy."""
    failed = bool(c.plan.modes)
    if not c.chance(0.24 if failed else 0.13):
        return None
    thumb = "down" if c.chance(0.6 if failed else 0.18) else "up"
    result = {"thumb": thumb}
    if c.chance(0.6 if thumb == "down" else 0.35):
        bank = P.FEEDBACK[c.lang][thumb]
        if thumb == "down" and failed and c.chance(0.6):
            bank = P.FEEDBACK_BY_MODE.get(c.plan.modes[0], bank)
        result["comment"] = c.pick(bank)
    return result


def render(plan: Plan) -> dict[str, Any]:
    """One trace record, in the OpenAI chat format plus the app's metadata."""
    c = Convo(plan, SEED)
    SCENARIOS[plan.intent](c)
    after_main(c)
    if c.malformed_pending:
        raise ValueError(f"{plan.trace_id}: no tool call to corrupt")
    prompt, completion, latency, cost = usage(c)
    session = hashlib.sha256(f"{SEED}:session:{plan.trace_id}".encode()).hexdigest()[:16]
    return {
        "trace_id": plan.trace_id,
        "timestamp": plan.ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "session_id": f"sess_{session}",
        "user_id": plan.user.user_id,
        "channel": plan.user.channel,
        "locale": plan.user.locale,
        "model": plan.model,
        "prompt_version": "v12" if plan.week == 1 else "v13",
        "messages": c.messages,
        "latency_ms": latency,
        "tokens": {"prompt": prompt, "completion": completion},
        "cost_usd": cost,
        "feedback": feedback(c),
    }


def rates_table(plans: Sequence[Plan]) -> str:
    """Per-week share of traces carrying each mode, as a Markdown table."""
    weeks = {w: [p for p in plans if p.week == w] for w in (1, 2)}
    lines = ["| failure mode | week 1 (v12) | week 2 (v13) | all |", "|---|---:|---:|---:|"]
    for mode in [*MODES, "any failure"]:
        cells = []
        for group in (weeks[1], weeks[2], plans):
            n = sum(1 for p in group if (mode in p.modes or (mode == "any failure" and p.modes)))
            cells.append(f"{n} ({n / len(group):.1%})")
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    lines.append(f"| traces | {len(weeks[1])} | {len(weeks[2])} | {len(plans)} |")
    return "\n".join(lines)


def main(out_dir: Path = HERE) -> list[Plan]:
    """Generate the traces and ground truth into ``out_dir``; return the plans."""
    rng = random.Random(SEED)
    plans = make_plans(rng)
    assign_modes(rng, plans)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "traces.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for plan in plans:
            f.write(json.dumps(render(plan), ensure_ascii=False) + "\n")
    with open(out_dir / "ground_truth.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["trace_id", "week", "failed", "failure_modes"])
        for plan in plans:
            row = [plan.trace_id, plan.week, int(bool(plan.modes)), ";".join(plan.modes)]
            writer.writerow(row)
    return plans


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder")
    print(rates_table(main(parser.parse_args().out)))
