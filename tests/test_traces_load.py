"""load_traces: every container, the sniffing, the mapping, and each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import workbench as wb
from workbench.traces import REQUIRED_COLUMNS, TraceLoadError, TraceLoadWarning

CHAT = [
    {"role": "system", "content": "You are the store's support agent."},
    {"role": "user", "content": "Where is order 1234?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order_id": "1234"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
    {"role": "assistant", "content": "Your order has shipped."},
]


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_jsonl_gives_canonical_columns_and_types(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            {"id": "a", "query": "hi", "response": "hello", "timestamp": "2026-11-02T10:00:00Z"},
            {"id": "b", "query": "bye", "response": "ciao", "timestamp": "2026-11-02T11:00:00Z"},
        ],
    )
    traces = wb.load_traces(path)
    assert list(traces.columns) == list(REQUIRED_COLUMNS)
    assert traces["trace_id"].tolist() == ["a", "b"]
    assert traces["input"].tolist() == ["hi", "bye"]
    assert traces["output"].tolist() == ["hello", "ciao"]
    assert str(traces["timestamp"].dt.tz) == "UTC"
    assert traces["messages"].isna().all()
    assert traces["metadata"].tolist() == [{}, {}]


def test_json_lines_named_dot_json_loads(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.json", [{"input": "a"}, {"input": "b"}])
    assert len(wb.load_traces(path)) == 2


def test_json_array_and_single_object(tmp_path: Path) -> None:
    (tmp_path / "arr.json").write_text(json.dumps([{"input": "a"}, {"input": "b"}]))
    (tmp_path / "one.json").write_text(json.dumps({"input": "a", "output": "b"}, indent=2))
    assert len(wb.load_traces(tmp_path / "arr.json")) == 2
    assert wb.load_traces(tmp_path / "one.json")["output"].tolist() == ["b"]


def test_openai_messages_give_input_output_and_tool_calls(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "chat.jsonl", [{"trace_id": "t1", "messages": CHAT}])
    row = wb.load_traces(path).iloc[0]
    assert row["input"] == "Where is order 1234?"
    assert row["output"] == "Your order has shipped."
    assert row["messages"][2]["content"] == ""
    assert row["tool_calls"] == [
        {
            "id": "call_1",
            "name": "lookup_order",
            "arguments": '{"order_id": "1234"}',
            "result": '{"status": "shipped"}',
        }
    ]


def test_request_response_log_records(tmp_path: Path) -> None:
    record = {
        "request": {"model": "gpt-4o-mini", "messages": CHAT[:2]},
        "response": {
            "id": "chatcmpl-1",
            "model": "gpt-4o-mini-2024-07-18",
            "created": 1762077600,
            "choices": [{"message": {"role": "assistant", "content": "It shipped."}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 3},
        },
        "user": "u-9",
    }
    row = wb.load_traces(write_jsonl(tmp_path / "log.jsonl", [record])).iloc[0]
    assert (row["input"], row["output"]) == ("Where is order 1234?", "It shipped.")
    assert row["model"] == "gpt-4o-mini-2024-07-18"
    assert row["tokens"] == {"prompt": 20, "completion": 3, "total": 23}
    assert row["timestamp"] == pd.Timestamp("2025-11-02 10:00:00", tz="UTC")
    assert row["metadata"] == {"user": "u-9", "response_id": "chatcmpl-1"}


def test_a_reply_that_is_only_tool_calls_is_shown_as_such(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"messages": CHAT[:3]}])
    assert wb.load_traces(path)["output"][0] == '[tool calls] lookup_order({"order_id": "1234"})'


def test_csv_with_json_cells_and_multiline_quoted_text(tmp_path: Path) -> None:
    path = tmp_path / "logs.csv"
    frame = pd.DataFrame(
        {
            "id": ["r1", "r2"],
            "prompt": ["line one\nline two", "plain"],
            "answer": ["x", "y"],
            "meta": ['{"team": "search"}', '{"team": "ads"}'],
            "latency_ms": ["120", "95.5"],
        }
    )
    frame.to_csv(path, index=False)
    traces = wb.load_traces(path)
    assert traces["input"][0] == "line one\nline two"
    assert traces["metadata"].tolist() == [{"team": "search"}, {"team": "ads"}]
    assert traces["latency_ms"].tolist() == [120.0, 95.5]


def test_parquet_and_dataframe_sources(tmp_path: Path) -> None:
    frame = pd.DataFrame({"trace_id": ["p1", "p2"], "input": ["a", "b"], "output": ["c", None]})
    frame.to_parquet(tmp_path / "t.parquet")
    from_parquet = wb.load_traces(tmp_path / "t.parquet")
    from_frame = wb.load_traces(frame)
    for traces in (from_parquet, from_frame):
        assert traces["trace_id"].tolist() == ["p1", "p2"]
        assert traces["output"].tolist() == ["c", ""]


def test_loading_a_canonical_table_again_changes_nothing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "chat.jsonl", [{"trace_id": "t1", "messages": CHAT, "x": 1}])
    once = wb.load_traces(path)
    twice = wb.load_traces(once)
    pd.testing.assert_frame_equal(once, twice)


def test_mapping_names_source_fields(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"key": "k1", "q": "hi", "a": "yo", "lang": "en"}])
    traces = wb.load_traces(path, mapping={"key": "trace_id", "q": "input", "a": "output"})
    assert traces.iloc[0][["trace_id", "input", "output"]].tolist() == ["k1", "hi", "yo"]
    assert traces["metadata"][0] == {"lang": "en"}


def test_mapping_onto_an_unknown_column_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"q": "hi"}])
    with pytest.raises(ValueError, match="not canonical columns"):
        wb.load_traces(path, mapping={"q": "question"})


def test_missing_ids_are_derived_from_content_and_stable(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"input": "a"}, {"input": "b"}])
    first, second = wb.load_traces(path), wb.load_traces(path)
    assert first["trace_id"].tolist() == second["trace_id"].tolist()
    assert first["trace_id"].nunique() == 2
    assert all(tid.startswith("t-") for tid in first["trace_id"])


def test_unknown_fields_land_in_metadata_and_clashes_keep_both(tmp_path: Path) -> None:
    record = {"input": "a", "team": "x", "metadata": {"team": "y", "env": "prod"}}
    traces = wb.load_traces(write_jsonl(tmp_path / "t.jsonl", [record]))
    assert traces["metadata"][0] == {"team": "x", "metadata.team": "y", "env": "prod"}


def test_feedback_becomes_named_entries(tmp_path: Path) -> None:
    records = [
        {"input": "a", "feedback": {"thumb": "down", "comment": "wrong size"}},
        {"input": "b", "feedback": 1},
        {"input": "c"},
    ]
    traces = wb.load_traces(write_jsonl(tmp_path / "t.jsonl", records))
    assert traces["feedback"][0] == [{"name": "thumb", "value": "down", "comment": "wrong size"}]
    assert traces["feedback"][1] == [{"name": "feedback", "value": 1}]
    assert traces["feedback"][2] is None or pd.isna(traces["feedback"][2])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-02T10:00:00Z", "2026-11-02 10:00:00"),
        ("2026-11-02T12:00:00+02:00", "2026-11-02 10:00:00"),
        ("2026-11-02 10:00:00", "2026-11-02 10:00:00"),
        (1793613600, "2026-11-02 10:00:00"),
        (1793613600000, "2026-11-02 10:00:00"),
        (1793613600000000000, "2026-11-02 10:00:00"),
    ],
)
def test_timestamps_of_every_common_shape_become_utc(
    tmp_path: Path, value: Any, expected: str
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"input": "a", "timestamp": value}])
    assert wb.load_traces(path)["timestamp"][0] == pd.Timestamp(expected, tz="UTC")


def test_globs_and_lists_of_files(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "w1.jsonl", [{"id": "a", "input": "x"}])
    write_jsonl(tmp_path / "w2.jsonl", [{"id": "b", "input": "y"}])
    assert len(wb.load_traces(str(tmp_path / "w*.jsonl"))) == 2
    assert len(wb.load_traces([tmp_path / "w1.jsonl", tmp_path / "w2.jsonl"])) == 2
    with pytest.raises(TraceLoadError, match="no file matches"):
        wb.load_traces(str(tmp_path / "nothing*.jsonl"))


# --- bad input -------------------------------------------------------------------------


def test_invalid_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text('{"input": "a"}\n{"input": "b"}\n{"input": "c" "output": 1}\n')
    with pytest.raises(TraceLoadError) as caught:
        wb.load_traces(path)
    assert str(caught.value).startswith(
        "traces.jsonl line 3: invalid JSON (Expecting ',' delimiter"
    )


def test_skip_loads_the_good_records_and_reports_the_bad(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text('{"input": "a"}\nnot json\n{"input": "c", "latency_ms": "fast"}\n[1, 2]\n')
    with pytest.warns(TraceLoadWarning, match="skipped 3 bad record"):
        traces = wb.load_traces(path, errors="skip")
    assert traces["input"].tolist() == ["a"]
    skipped = wb.skipped(traces)
    assert skipped["line"].tolist() == [2, 3, 4]
    assert skipped["field"].tolist()[1] == "latency_ms"
    assert "expected a number" in skipped["error"].tolist()[1]


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"input": "a", "latency_ms": "fast"}, "latency_ms", "expected a number"),
        ({"input": "a", "timestamp": "last tuesday"}, "timestamp", "unreadable time"),
        ({"messages": [{"role": "user", "content": "a"}, ["nested"]]}, "messages[1]", "got list"),
        ({"messages": [{"content": "a"}]}, "messages[0]", 'no "role"'),
        ({"messages": "hello"}, "messages", "expected a list of messages"),
        ({"colour": "red"}, None, "no input, output or messages field"),
    ],
)
def test_bad_fields_are_named(
    tmp_path: Path, record: dict[str, Any], field: str | None, message: str
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"input": "ok"}, record])
    with pytest.raises(TraceLoadError, match=message) as caught:
        wb.load_traces(path)
    assert caught.value.field == field
    assert str(caught.value).startswith("t.jsonl line 2")


def test_duplicate_ids_are_reported_never_merged(tmp_path: Path) -> None:
    records = [{"id": "same", "run": f"r{i}", "input": str(i)} for i in range(3)]
    path = write_jsonl(tmp_path / "t.jsonl", records)
    with pytest.raises(TraceLoadError, match="'same'") as caught:
        wb.load_traces(path)
    assert "mapping={'run': 'trace_id'}" in str(caught.value)
    with pytest.warns(TraceLoadWarning):
        traces = wb.load_traces(path, errors="skip")
    assert traces["input"].tolist() == ["0"]
    assert wb.skipped(traces)["line"].tolist() == [2, 3]


def test_empty_file_gives_an_empty_table_and_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.warns(TraceLoadWarning, match="holds no traces"):
        traces = wb.load_traces(path)
    assert traces.empty
    assert list(traces.columns) == list(REQUIRED_COLUMNS)


def test_bom_and_crlf(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_bytes(b'\xef\xbb\xbf{"input": "a"}\r\n{"input": "b"}\r\n')
    (tmp_path / "t.csv").write_bytes(b"\xef\xbb\xbfid,input\r\n1,a\r\n2,b\r\n")
    assert wb.load_traces(tmp_path / "t.jsonl")["input"].tolist() == ["a", "b"]
    traces = wb.load_traces(tmp_path / "t.csv")
    assert traces["trace_id"].tolist() == ["1", "2"]


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_bytes(b'{"input": "a"}\n{"input": "caf\xe9"}\n')
    with pytest.raises(TraceLoadError, match=r"t.jsonl line 2: bytes that are not valid utf-8"):
        wb.load_traces(tmp_path / "t.jsonl")
    (tmp_path / "t.csv").write_bytes(b"id,input\n1,a\n2,caf\xe9\n")
    with pytest.raises(TraceLoadError, match=r"t.csv line 3: .*encoding="):
        wb.load_traces(tmp_path / "t.csv")
    assert wb.load_traces(tmp_path / "t.csv", encoding="cp1252")["input"][1] == "café"


def test_ten_megabyte_fields_load_whole(tmp_path: Path) -> None:
    big = "x" * 10_000_000
    write_jsonl(tmp_path / "t.jsonl", [{"input": "a", "output": big}])
    pd.DataFrame({"input": ["a"], "output": [big]}).to_csv(tmp_path / "t.csv", index=False)
    for name in ("t.jsonl", "t.csv"):
        assert len(wb.load_traces(tmp_path / name)["output"][0]) == 10_000_000


def test_deeply_nested_metadata(tmp_path: Path) -> None:
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(200):
        nested = {"n": nested}
    write_jsonl(tmp_path / "ok.jsonl", [{"input": "a", "metadata": nested}])
    assert wb.load_traces(tmp_path / "ok.jsonl")["metadata"][0] == nested
    (tmp_path / "deep.jsonl").write_text('{"input": "a"}\n' + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(TraceLoadError, match=r"deep\.jsonl line 2: JSON nested too deeply"):
        wb.load_traces(tmp_path / "deep.jsonl")


def test_csv_row_with_the_wrong_number_of_cells(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,input\n1,a\n2,b,extra\n")
    with pytest.raises(TraceLoadError, match=r"t\.csv record 2 \(line 3\): has 3 cells"):
        wb.load_traces(tmp_path / "t.csv")


def test_csv_with_a_repeated_column_name_keeps_both(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,input,input\n1,a,b\n")
    with pytest.warns(TraceLoadWarning, match="t.csv line 1: column.*'input'.*input.1"):
        traces = wb.load_traces(tmp_path / "t.csv")
    assert traces["input"][0] == "a"
    assert traces["metadata"][0] == {"input.1": "b"}


def test_missing_file_unknown_format_and_bad_errors_argument(tmp_path: Path) -> None:
    with pytest.raises(TraceLoadError, match="file not found"):
        wb.load_traces(tmp_path / "absent.jsonl")
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        wb.load_traces(tmp_path / "absent.jsonl", format="xml")
    with pytest.raises(ValueError, match="errors must be"):
        wb.load_traces(tmp_path / "absent.jsonl", errors="ignore")


def test_forcing_a_container(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("input,output\nhi,there\n")
    assert wb.load_traces(path, format="csv")["output"].tolist() == ["there"]
    with pytest.raises(TraceLoadError, match="invalid JSON"):
        wb.load_traces(path, format="json")


def test_unicode_survives(tmp_path: Path) -> None:
    text = "Où est ma commande ? 🚚 — 注文はどこ؟ \u202eevil"
    write_jsonl(tmp_path / "t.jsonl", [{"input": text}])
    assert wb.load_traces(tmp_path / "t.jsonl")["input"][0] == text


def test_slices_of_a_table_with_skipped_records_concatenate(tmp_path: Path) -> None:
    """Regression: a DataFrame kept in attrs made pd.concat of two slices raise."""
    path = tmp_path / "t.jsonl"
    path.write_text('{"input": "a"}\nnot json\n{"input": "b"}\n')
    with pytest.warns(TraceLoadWarning):
        traces = wb.load_traces(path, errors="skip")
    both = pd.concat([traces.iloc[:1], traces.iloc[1:]])
    assert both["input"].tolist() == ["a", "b"]
    assert wb.skipped(both)["line"].tolist() == [2]
