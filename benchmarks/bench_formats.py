"""Load time and peak memory of the trace-export formats: the LangSmith sample and big OTel files.

Each measurement runs in a fresh interpreter so its peak memory belongs to that load
alone: once untraced for wall time, CPU time (the steadier figure on a busy machine)
and peak RSS, once under ``tracemalloc`` for the peak of Python allocations. The OTel
files are generated: ``--traces`` agent traces of four spans each (an agent, two model
calls with OpenInference message attributes, a tool), written as Phoenix-style span
JSON Lines and as one OTLP JSON export.

Run:
    .venv/bin/python benchmarks/bench_formats.py                  # 10k generated traces
    .venv/bin/python benchmarks/bench_formats.py --traces 50000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LANGSMITH = REPO.parent / "shared" / "data" / "langsmith" / "recipe_bot_hw2_runs.json"

_MEASURE = """
import json, resource, sys, time, tracemalloc, warnings
import workbench as wb
warnings.simplefilter("ignore")
traced = sys.argv[2] == "traced"
if traced:
    tracemalloc.start()
t0, c0 = time.perf_counter(), time.process_time()
traces = wb.load_traces(sys.argv[1])
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = tracemalloc.get_traced_memory()[1] / 1e6 if traced else None
print(json.dumps({"traces": len(traces), "spans": int(traces["spans"].map(len).sum()),
                  "seconds": seconds, "cpu_s": cpu, "peak_rss_mb": resource.getrusage(
                      resource.RUSAGE_SELF).ru_maxrss / 1024, "traced_peak_mb": peak}))
"""


def _span(trace: int, span: int, parent: int | None, kind: str, second: int) -> dict[str, Any]:
    return {
        "name": f"{kind.lower()}-{span}",
        "context": {"trace_id": f"{trace:032x}", "span_id": f"{trace * 8 + span:016x}"},
        "span_kind": kind,
        "parent_id": None if parent is None else f"{trace * 8 + parent:016x}",
        "start_time": f"2026-01-01T00:00:{second:02d}+00:00",
        "end_time": f"2026-01-01T00:00:{second + 1:02d}+00:00",
        "status_code": "ERROR" if kind == "TOOL" and trace % 10 == 0 else "OK",
        "status_message": "tool timed out" if kind == "TOOL" and trace % 10 == 0 else "",
        "attributes": {},
        "events": [],
    }


def agent_trace(trace: int) -> list[dict[str, Any]]:
    """Four spans: agent, model call (asks for a tool), tool, model call (answers)."""
    question = f"What is the refund policy for order {trace}?"
    root = _span(trace, 0, None, "AGENT", 0)
    root["attributes"] = {"input.value": question, "output.value": "30 days.", "session.id": "s"}
    first, tool, second = (
        _span(trace, 1, 0, "LLM", 1),
        _span(trace, 2, 0, "TOOL", 3),
        _span(trace, 3, 0, "LLM", 5),
    )
    history = {
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You are a support agent. " * 20,
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": question,
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 420,
        "llm.token_count.completion": 30,
    }
    call = "llm.output_messages.0.message.tool_calls.0.tool_call"
    first["attributes"] = history | {
        "llm.output_messages.0.message.role": "assistant",
        f"{call}.id": f"call-{trace}",
        f"{call}.function.name": "lookup_policy",
        f"{call}.function.arguments": json.dumps({"order": trace}),
    }
    tool["attributes"] = {
        "tool.name": "lookup_policy",
        "tool.id": f"call-{trace}",
        "input.value": json.dumps({"order": trace}),
        "output.value": "Refunds within 30 days.",
    }
    second["attributes"] = history | {
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "30 days.",
    }
    return [root, first, tool, second]


def _otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": str(value)}


def otlp_span(span: dict[str, Any]) -> dict[str, Any]:
    attributes = {"openinference.span.kind": span["span_kind"], **span["attributes"]}
    return {
        "traceId": span["context"]["trace_id"],
        "spanId": span["context"]["span_id"],
        "parentSpanId": span["parent_id"] or "",
        "name": span["name"],
        "kind": 1,
        "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225601000000000",
        "attributes": [{"key": k, "value": _otlp_value(v)} for k, v in attributes.items()],
        "status": {"code": 2 if span["status_code"] == "ERROR" else 1},
    }


def make_files(traces: int, folder: Path) -> list[Path]:
    spans = [span for trace in range(1, traces + 1) for span in agent_trace(trace)]
    lines = folder / f"phoenix_spans_{traces}.jsonl"
    lines.write_text("\n".join(json.dumps(span) for span in spans) + "\n", encoding="utf-8")
    otlp = folder / f"otlp_{traces}.json"
    scope = {"scope": {"name": "bench"}, "spans": [otlp_span(span) for span in spans]}
    doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [scope]}]}
    otlp.write_text(json.dumps(doc), encoding="utf-8")
    return [lines, otlp]


def measure(path: Path, traced: bool) -> dict[str, Any]:
    """Load ``path`` in a fresh interpreter; return counts, seconds and peak memory."""
    mode = "traced" if traced else "plain"
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(path: Path) -> None:
    plain, traced = measure(path, traced=False), measure(path, traced=True)
    print(
        f"{path.name:<34} {path.stat().st_size / 1e6:7.1f} MB  {plain['traces']:>7} traces "
        f"{plain['spans']:>7} spans  {plain['seconds']:6.2f} s (cpu {plain['cpu_s']:5.2f} s)  "
        f"{plain['traces'] / plain['seconds']:>8.0f} traces/s  "
        f"peak RSS {plain['peak_rss_mb']:7.0f} MB  "
        f"tracemalloc peak {traced['traced_peak_mb']:7.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=10_000)
    args = parser.parse_args()
    if LANGSMITH.exists():
        report(LANGSMITH)
    else:
        print(f"skipped: {LANGSMITH} is not there")
    with tempfile.TemporaryDirectory() as tmp:
        for path in make_files(args.traces, Path(tmp)):
            report(path)


if __name__ == "__main__":
    main()
