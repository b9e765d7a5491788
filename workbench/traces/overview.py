"""A first look at a trace table, before reading any trace."""

from __future__ import annotations

import pandas as pd


def overview(traces: pd.DataFrame) -> pd.DataFrame:
    """A one-column summary of a trace table: size, time span, models, tools, feedback, cost.

    The first look at a new week of traces, before reading any of them.

    Examples:
        >>> import workbench as wb
        >>> wb.overview(wb.load_traces("sample_data/traces.jsonl")).loc["traces", "value"]
        1200
    """
    facts: dict[str, object] = {"traces": len(traces)}
    stamps = traces["timestamp"].dropna()
    if len(stamps):
        facts["from"] = stamps.min().isoformat()
        facts["to"] = stamps.max().isoformat()
    if "model" in traces:
        facts["models"] = ", ".join(
            f"{m} ({n})" for m, n in traces["model"].value_counts().head(4).items()
        )
    if "messages" in traces:
        turns = traces["messages"].map(lambda m: len(m) if isinstance(m, list) else 0)
        facts["messages per trace (median)"] = float(turns.median())
    if "tool_calls" in traces:
        calls = traces["tool_calls"].map(lambda c: len(c) if isinstance(c, list) else 0)
        facts["traces with tool calls"] = int((calls > 0).sum())
    if "feedback" in traces:
        facts["traces with feedback"] = int(traces["feedback"].notna().sum())
    if "error" in traces:
        facts["traces with errors"] = int(traces["error"].notna().sum())
    if "latency_ms" in traces:
        facts["latency p50 / p95 (ms)"] = (
            f"{traces['latency_ms'].quantile(0.5):.0f} / {traces['latency_ms'].quantile(0.95):.0f}"
        )
    if "cost_usd" in traces:
        facts["total cost (USD)"] = round(float(traces["cost_usd"].sum()), 4)
    return pd.DataFrame({"value": facts})
