"""show_trace: one trace as notebook HTML and as text, with every piece of trace text escaped."""

from __future__ import annotations

import math
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import workbench as wb
from workbench.traces import TraceLoadWarning, show_trace
from workbench.traces.show import TraceView

SAMPLES = [
    Path("otel") / "phoenix_pxi_turn_trace.json",
    Path("otel") / "any_agent_OPENAI_trace.json",
    Path("langfuse") / "openai-agents-2025-09-30.trace.json",
    Path("langsmith") / "recipe_bot_hw2_runs.json",
    Path("openai") / "openai_chat_completions_tool_calls.yaml",
]
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'
ALLOWED_TAGS = {
    "style", "div", "span", "h4", "pre", "details", "summary", "code", "b",
    "table", "tr", "td",
}  # fmt: skip
ALLOWED_CLASSES = {
    "wb-trace", "wb-head", "wb-muted", "wb-error", "wb-banner", "wb-msg", "wb-user",
    "wb-assistant", "wb-system", "wb-tool", "wb-role", "wb-span", "wb-span-failed", "wb-kind",
}  # fmt: skip


class Markup(HTMLParser):
    """Every tag and attribute in a page, to check that none came from the trace."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_markup_is_ours(page: str) -> None:
    parser = Markup()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert value is not None
            if name == "class":
                assert set(value.split()) <= ALLOWED_CLASSES, value
            else:
                assert name == "style" and re.fullmatch(r"margin-left:\d+px", value), (name, value)


def hostile_trace() -> dict[str, Any]:
    call = {"id": EVIL, "type": "function", "function": {"name": EVIL, "arguments": EVIL}}
    span = {
        "span_id": EVIL,
        "parent_id": None,
        "depth": f"{EVIL}",
        "name": EVIL,
        "kind": EVIL,
        "start": EVIL,
        "end": None,
        "duration_ms": 12.5,
        "status": "ERROR",
        "error": EVIL,
        "input": {EVIL: EVIL},
        "output": EVIL,
        "attributes": {EVIL: [EVIL]},
        "events": [{"name": EVIL}],
        "flags": [EVIL],
    }
    return {
        "trace_id": EVIL,
        "input": EVIL,
        "output": EVIL,
        "messages": [
            {"role": EVIL, "content": EVIL},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": EVIL, "tool_call_id": EVIL},
        ],
        "metadata": {EVIL: EVIL, "nested": {EVIL: [EVIL]}},
        "timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
        "model": EVIL,
        "latency_ms": 3.0,
        "cost_usd": float("nan"),
        "tokens": {"total": EVIL},
        "tool_calls": [
            {"id": EVIL, "name": EVIL, "arguments": EVIL, "result": EVIL, "error": EVIL}
        ],
        "error": EVIL,
        "spans": [span, {**span, "depth": 3}],
        "feedback": [{"name": EVIL, "value": EVIL, "source": EVIL, "comment": EVIL}],
    }


@pytest.fixture(scope="module")
def loaded(shared_data: Path) -> dict[str, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceLoadWarning)
        return {str(sample): wb.load_traces(shared_data / sample) for sample in SAMPLES}


@pytest.mark.parametrize("sample", [str(s) for s in SAMPLES])
def test_every_real_sample_renders_as_html_and_text(
    loaded: dict[str, pd.DataFrame], sample: str
) -> None:
    row = loaded[sample].iloc[0]
    view = show_trace(row)
    page = view._repr_html_()
    assert_markup_is_ours(page)
    assert page.count("<div") == page.count("</div>")
    assert page.count("<details>") == page.count("</details>")
    text = repr(view)
    assert text.startswith(f"Trace {row['trace_id']} · ")
    assert f"input:  {row['input'][:20]}".strip() in text


def test_span_tree_shows_durations_and_highlights_the_error(
    loaded: dict[str, pd.DataFrame],
) -> None:
    row = loaded[str(SAMPLES[0])].iloc[0]
    page = show_trace(row)._repr_html_()
    assert page.count('class="wb-span wb-span-failed"') == 1
    assert page.count('class="wb-span"') == 17
    assert page.count('style="margin-left:16px"') == 17
    assert "add_spans_to_dataset" in page and "1.00 s" in page
    assert 'class="wb-banner wb-error">Error: add_spans_to_dataset: ' in page
    text = repr(show_trace(row))
    assert "    add_spans_to_dataset [TOOL] 1.00 s ERROR: Error fetching GraphQL" in text
    assert "messages: 27 · tool calls: 8 · spans: 18 · feedback: 0" in text


def test_chat_turns_tool_calls_and_feedback_are_shown(loaded: dict[str, pd.DataFrame]) -> None:
    row = loaded[str(SAMPLES[2])].iloc[0]
    page = show_trace(row)._repr_html_()
    assert page.count('class="wb-msg wb-user"') == 1
    assert page.count('class="wb-msg wb-assistant"') == 2
    assert page.count('class="wb-msg wb-tool"') == 1
    assert "<summary>tool call: get_weather</summary>" in page
    assert "<h4>Tool calls (1)</h4>" in page and "The weather in Tokyo is sunny." in page
    assert "<h4>Feedback (2)</h4>" in page and "toxicity" in page
    assert "What&#x27;s the weather in Tokyo?" in page  # the apostrophe is escaped too


def test_hostile_trace_text_is_escaped_everywhere() -> None:
    page = show_trace(hostile_trace())._repr_html_()
    assert_markup_is_ours(page)
    assert "<script" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert page.count(escaped) >= 15
    assert 'style="margin-left:0px"' in page and 'style="margin-left:48px"' in page
    text = repr(show_trace(hostile_trace()))
    assert text.startswith(f"Trace {EVIL} · 2026-01-01 00:00:00+00:00")


def test_long_fields_are_cut(loaded: dict[str, pd.DataFrame]) -> None:
    row = loaded[str(SAMPLES[3])].iloc[0]
    page = show_trace(row, max_chars=50)._repr_html_()
    assert f"… ({len(row['output']) - 50} more characters)" in page


def test_accepts_a_dict_a_one_row_frame_and_sparse_rows(loaded: dict[str, pd.DataFrame]) -> None:
    frame = loaded[str(SAMPLES[1])]
    assert isinstance(show_trace(frame), TraceView)
    assert show_trace(frame.iloc[0].to_dict())._repr_html_() == show_trace(frame)._repr_html_()
    sparse = show_trace({"trace_id": "t", "input": "hi", "messages": None, "spans": math.nan})
    assert "hi" in sparse._repr_html_() and "messages: 0" in repr(sparse)


def test_a_frame_of_several_traces_is_refused(loaded: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match=r"has 50 rows \(pick one, e.g. traces.iloc\[0\]"):
        show_trace(loaded[str(SAMPLES[3])])


def test_show_trace_is_exported_with_the_loader() -> None:
    assert wb.traces.show_trace is show_trace
