"""The sample data: reproducible, well-formed chat traces that carry the failures they claim."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "sample_data"
FILES = ("traces.jsonl", "ground_truth.csv")
MODES = {
    "malformed_tool_args",
    "missing_tool_call",
    "leaked_internal_id",
    "overlong_reply",
    "wrong_language",
    "invented_policy",
    "ignored_constraint",
    "dismissive_tone",
    "premature_handoff",
}
INTERNAL_ID = re.compile(r"cust_int_\d+|INT-REF-\d{8}-\d{4}|WH\d-[A-Z]\d{2}-\d{2}")
ORDER_LOOKUPS = {"lookup_order", "get_tracking", "check_inventory", "cancel_order"}


def generate(out: Path, hash_seed: str) -> Path:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    cmd = [sys.executable, str(SAMPLE / "generate.py"), "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
    return out


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


@pytest.fixture(scope="module")
def traces() -> list[dict[str, Any]]:
    with open(SAMPLE / "traces.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def truth() -> dict[str, dict[str, Any]]:
    with open(SAMPLE / "ground_truth.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        row["trace_id"]: {
            "week": int(row["week"]),
            "failed": int(row["failed"]),
            "modes": set(filter(None, row["failure_modes"].split(";"))),
        }
        for row in rows
    }


def tool_calls(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [call for m in trace["messages"] for call in m.get("tool_calls") or []]


def replies(trace: dict[str, Any]) -> list[str]:
    """The assistant's texts to the customer (not the notes it sends with tool calls)."""
    return [
        m["content"]
        for m in trace["messages"]
        if m["role"] == "assistant" and not m.get("tool_calls")
    ]


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def test_committed_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    fresh = generate(tmp_path / "a", hash_seed="0")
    assert digests(fresh) == digests(SAMPLE), "run `python sample_data/generate.py` and commit"


def test_generation_is_deterministic_whatever_the_hash_seed(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", hash_seed="1")
    second = generate(tmp_path / "b", hash_seed="2")
    assert digests(first) == digests(second)


def test_there_are_enough_traces_with_unique_ids(traces: list[dict[str, Any]]) -> None:
    ids = [t["trace_id"] for t in traces]
    assert len(ids) >= 1000
    assert len(set(ids)) == len(ids)
    assert len({t["session_id"] for t in traces}) == len(ids)


def test_the_file_stays_small() -> None:
    assert (SAMPLE / "traces.jsonl").stat().st_size < 6_000_000


def test_records_carry_the_documented_fields(traces: list[dict[str, Any]]) -> None:
    start, end = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)
    for t in traces:
        when = datetime.strptime(t["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert start <= when < end, t["trace_id"]
        assert t["prompt_version"] == ("v12" if when.day < 9 else "v13"), t["trace_id"]
        assert t["channel"] in {"web", "mobile", "email"}
        assert t["locale"] in {"en-US", "en-GB", "en-CA", "es-ES", "de-DE", "fr-FR"}
        assert t["model"] in {"gpt-4o-mini-2024-07-18", "gpt-4.1-mini"}
        assert isinstance(t["latency_ms"], int) and t["latency_ms"] > 0
        assert isinstance(t["cost_usd"], float) and t["cost_usd"] > 0
        assert all(isinstance(n, int) and n > 0 for n in t["tokens"].values())
        assert t["user_id"].startswith("u_") and t["session_id"].startswith("sess_")
        if t["feedback"] is not None:
            assert t["feedback"]["thumb"] in {"up", "down"}
            assert set(t["feedback"]) <= {"thumb", "comment"}
    share = sum(t["feedback"] is not None for t in traces) / len(traces)
    assert 0.08 < share < 0.25


def test_messages_are_well_formed_openai_chat(traces: list[dict[str, Any]]) -> None:
    for t in traces:
        messages, tid = t["messages"], t["trace_id"]
        assert messages[0]["role"] == "system", tid
        assert messages[1]["role"] == "user", tid
        assert messages[-1]["role"] == "assistant" and messages[-1]["content"], tid
        pending: list[str] = []
        for m in messages[1:]:
            assert m["role"] in {"user", "assistant", "tool"}, tid
            if m["role"] == "tool":
                assert pending and m["tool_call_id"] == pending.pop(0), tid
                assert parses(m["content"]), tid
                continue
            assert not pending, f"{tid}: tool calls left unanswered"
            if m["role"] == "user":
                assert isinstance(m["content"], str) and m["content"].strip(), tid
            for call in m.get("tool_calls") or []:
                assert call["type"] == "function" and call["id"].startswith("call_"), tid
                assert isinstance(call["function"]["name"], str), tid
                assert isinstance(call["function"]["arguments"], str), tid
                pending.append(call["id"])
        assert not pending, tid


def test_ground_truth_matches_the_traces(
    traces: list[dict[str, Any]], truth: dict[str, dict[str, Any]]
) -> None:
    assert list(truth) == [t["trace_id"] for t in traces]
    for t in traces:
        row = truth[t["trace_id"]]
        assert row["week"] == (1 if t["prompt_version"] == "v12" else 2)
        assert row["failed"] == int(bool(row["modes"]))
        assert row["modes"] <= MODES
        assert len(row["modes"]) <= 2


def test_about_a_quarter_of_traces_fail(truth: dict[str, dict[str, Any]]) -> None:
    rate = sum(row["failed"] for row in truth.values()) / len(truth)
    assert 0.18 <= rate <= 0.35
    assert any(len(row["modes"]) == 2 for row in truth.values())


def test_every_mode_is_present_at_a_realistic_rate(truth: dict[str, dict[str, Any]]) -> None:
    counts = Counter(mode for row in truth.values() for mode in row["modes"])
    assert set(counts) == MODES
    for mode, n in counts.items():
        assert 0.01 <= n / len(truth) <= 0.08, mode


def test_the_prompt_change_shifts_two_modes(truth: dict[str, dict[str, Any]]) -> None:
    def rate(mode: str, week: int) -> float:
        rows = [row for row in truth.values() if row["week"] == week]
        return sum(mode in row["modes"] for row in rows) / len(rows)

    assert rate("overlong_reply", 2) >= 2 * rate("overlong_reply", 1)
    assert rate("malformed_tool_args", 2) <= rate("malformed_tool_args", 1) / 2
    weeks = Counter(row["week"] for row in truth.values())
    assert 0.4 < weeks[1] / len(truth) < 0.6


def test_first_user_messages_vary_like_real_traffic(traces: list[dict[str, Any]]) -> None:
    firsts = [next(m["content"] for m in t["messages"] if m["role"] == "user") for t in traces]
    assert len(set(firsts)) / len(firsts) >= 0.8
    assert Counter(t["locale"][:2] for t in traces)["en"] / len(traces) < 0.9


def test_code_checkable_modes_show_exactly_where_labelled(
    traces: list[dict[str, Any]], truth: dict[str, dict[str, Any]]
) -> None:
    for t in traces:
        modes, tid = truth[t["trace_id"]]["modes"], t["trace_id"]
        arguments = [call["function"]["arguments"] for call in tool_calls(t)]
        texts = replies(t)
        assert (not all(map(parses, arguments))) == ("malformed_tool_args" in modes), tid
        assert any(INTERNAL_ID.search(x) for x in texts) == ("leaked_internal_id" in modes), tid
        assert any(len(x) > 1200 for x in texts) == ("overlong_reply" in modes), tid


def test_judged_modes_leave_a_trace_a_reader_can_see(
    traces: list[dict[str, Any]], truth: dict[str, dict[str, Any]]
) -> None:
    for t in traces:
        modes, tid = truth[t["trace_id"]]["modes"], t["trace_id"]
        names = [call["function"]["name"] for call in tool_calls(t)]
        if "missing_tool_call" in modes:
            assert not ORDER_LOOKUPS.intersection(names), tid
        if "premature_handoff" in modes:
            assert "escalate_to_human" in names, tid
        if "wrong_language" in modes:
            assert not t["locale"].startswith("en"), tid
        if "invented_policy" in modes and "missing_tool_call" not in modes:
            assert "get_policy" in names, tid
        if "ignored_constraint" in modes:
            assert "search_products" in names, tid
