"""LangSmith run exports: a list of Run dicts (JSON array or JSON Lines).

Runs with no ``parent_run_id`` are traces; the others are their spans, linked by
``parent_run_id`` (and grouped by ``trace_id``, or by walking up to the root where
an older export has none). Runs exported with their ``child_runs`` nested are
read the same way. The ``error`` of any run is kept on its span and rolled up to
the trace. Feedback comes from ``feedback_stats``, a ``feedback`` list, or
``extra.metadata._feedback`` (where reviewers' comments are often attached).
LangChain messages (``type`` human/ai/tool, plain or serialised) are read in
``inputs`` and ``outputs``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from workbench.traces.adapters import Adapter, Context
from workbench.traces.errors import Place, RecordError
from workbench.traces.fields import merge_metadata, to_tokens
from workbench.traces.messages import to_messages
from workbench.traces.readers import Item
from workbench.traces.rollup import TraceInfo, row_or_reject
from workbench.traces.span_fields import as_dict, classify, text_id, to_time
from workbench.traces.spans import Notes, Row, SpanRecord, link

_KINDS = {
    "LLM": "LLM",
    "CHAIN": "CHAIN",
    "TOOL": "TOOL",
    "RETRIEVER": "RETRIEVER",
    "EMBEDDING": "EMBEDDING",
    "PROMPT": "PROMPT",
    "PARSER": "PARSER",
}
_RUN_MAPPED = frozenset(
    {"id", "trace_id", "parent_run_id", "name", "run_type", "start_time", "end_time"}
    | {"inputs", "outputs", "error", "events", "child_runs", "status"}
)
_TRACE_MAPPED = _RUN_MAPPED | {"extra", "feedback_stats", "feedback", "total_cost"}
_TRACE_MAPPED |= {"prompt_tokens", "completion_tokens", "total_tokens"}
_SHAPE_ERRORS = (
    TypeError,
    AttributeError,
    ValueError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
)

_Run = tuple[dict[str, Any], Place, str]
"""A run, the record it came from, and its path inside that record (for nested child runs)."""


def _sniff(items: Sequence[Item]) -> bool:
    data = items[0].data if items else None
    return isinstance(data, dict) and "run_type" in data and "parent_run_id" in data


def convert(items: Sequence[Item], context: Context) -> list[tuple[Row, Place]]:
    """Group runs into traces; one canonical row per root run."""
    notes = Notes()
    runs: list[_Run] = []
    for item in items:
        if not isinstance(item.data, dict):
            reason = f"expected a run object, got {type(item.data).__name__}"
            context.report.reject(item.place, reason)
            continue
        try:
            nested = list(_flatten(item.data, ""))
        except RecordError as exc:
            context.report.reject(item.place, exc.reason, exc.field)
            continue
        runs.extend((run, item.place, path) for run, path in nested)
    rows: list[tuple[Row, Place]] = []
    for trace_id, members in _group(runs, context).items():
        spans = _spans(trace_id, members, context, notes)
        tree = link(trace_id, spans, context.report, notes) if spans is not None else None
        if tree is None:
            continue
        root = next((run for run, _, _ in members if run.get("parent_run_id") is None), None)
        place = tree.nodes[0].span.place
        row = row_or_reject(tree, partial(_info, root, members), place, context.report)
        if row is not None:
            rows.append((row, place))
    notes.warn()
    return rows


def _spans(
    trace_id: str, members: list[_Run], context: Context, notes: Notes
) -> list[SpanRecord] | None:
    """The runs of one trace as spans; ``None`` (once reported) when a run is unreadable."""
    spans = []
    for run, place, path in members:
        try:
            spans.append(_read_span(trace_id, run, place, path, notes))
        except RecordError as exc:
            reason = f"{exc.reason}; trace {trace_id!r} is left out"
            context.report.reject(place, reason, exc.field)
            return None
        except _SHAPE_ERRORS as exc:
            reason = (
                f"unexpected value ({type(exc).__name__}: {exc}); trace {trace_id!r} is left out"
            )
            context.report.reject(place, reason, path.rstrip(".") or None)
            return None
    return spans


def _flatten(run: dict[str, Any], path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """A run and, depth first, the runs nested in its ``child_runs``."""
    yield run, path
    children = run.get("child_runs")
    if children is not None and not isinstance(children, list):
        reason = f"expected a list of runs, got {type(children).__name__}"
        raise RecordError(reason, f"{path}child_runs")
    for index, child in enumerate(children or []):
        if not isinstance(child, dict):
            reason = f"expected a run object, got {type(child).__name__}"
            raise RecordError(reason, f"{path}child_runs[{index}]")
        child = {"parent_run_id": run.get("id"), **child}
        yield from _flatten(child, f"{path}child_runs[{index}].")


def _group(runs: list[_Run], context: Context) -> dict[str, list[_Run]]:
    """Runs by trace id; a run whose trace cannot be told is rejected on its own."""
    parents = {str(r["id"]): r.get("parent_run_id") for r, _, _ in runs if r.get("id")}
    groups: dict[str, list[_Run]] = {}
    for run, place, path in runs:
        try:
            trace_id = text_id(run.get("trace_id"), f"{path}trace_id") or _root_of(run, parents)
        except RecordError as exc:
            context.report.reject(place, exc.reason, exc.field)
            continue
        if not trace_id:
            reason = "run has no trace_id and its root run is not in the export"
            context.report.reject(place, reason, f"{path}trace_id")
            continue
        groups.setdefault(str(trace_id), []).append((run, place, path))
    return groups


def _root_of(run: dict[str, Any], parents: dict[str, Any]) -> str | None:
    """The id of the root run above ``run``, following parent links (``None`` if cut off)."""
    node, seen = run.get("id"), set()
    while node is not None and str(node) not in seen:
        seen.add(str(node))
        if str(node) not in parents:
            return None
        parent = parents[str(node)]
        if parent is None:
            return str(node)
        node = parent
    return None


def _read_span(
    trace_id: str, run: dict[str, Any], place: Place, path: str, notes: Notes
) -> SpanRecord:
    """One run as a span: LLM runs with their messages, usage and model; tool runs' call ids."""
    span_id = text_id(run.get("id"), f"{path}id")
    if span_id is None:
        raise RecordError("run has no id", f"{path}id")
    kind, flags = classify(run.get("run_type"), _KINDS, notes, place, f"{path}run_type")
    error = run.get("error")
    if error is not None and not isinstance(error, str):
        error = str(error)
    inputs, outputs = run.get("inputs"), run.get("outputs")
    attributes = {k: v for k, v in run.items() if k not in _RUN_MAPPED and v is not None}
    attributes["run_type"] = run.get("run_type")
    reply = to_messages(outputs) if kind == "LLM" else None
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=text_id(run.get("parent_run_id"), f"{path}parent_run_id"),
        name=str(run.get("name") or ""),
        kind=kind,
        place=place,
        path=path.rstrip("."),
        id_fields=("id", "parent_run_id"),
        start=to_time(run.get("start_time"), f"{path}start_time"),
        end=to_time(run.get("end_time"), f"{path}end_time"),
        status="ERROR" if error or run.get("status") == "error" else _status(run),
        error=error or None,
        input=inputs,
        output=outputs,
        attributes=attributes,
        events=list(run.get("events") or []),
        prompt=to_messages(inputs) if kind == "LLM" else None,
        reply=reply,
        model=_model(run) if kind == "LLM" else None,
        tokens=_tokens(run, reply, path) if kind == "LLM" else None,
        cost_usd=float(run["total_cost"]) if kind == "LLM" and run.get("total_cost") else None,
        tool_call_id=_tool_call_id(inputs, outputs) if kind == "TOOL" else None,
        flags=flags,
    )


def _status(run: dict[str, Any]) -> str:
    return "OK" if run.get("end_time") or run.get("status") == "success" else "UNSET"


def _model(run: dict[str, Any]) -> str | None:
    extra = as_dict(run.get("extra"))
    metadata = as_dict(extra.get("metadata"))
    params = as_dict(extra.get("invocation_params"))
    llm_output = as_dict(as_dict(run.get("outputs")).get("llm_output"))
    for value in (
        metadata.get("ls_model_name"),
        params.get("model"),
        params.get("model_name"),
        llm_output.get("model_name"),
    ):
        if value:
            return str(value)
    return None


def _tokens(run: dict[str, Any], reply: list[Row] | None, path: str) -> dict[str, int] | None:
    """Usage from the reply message, the LLM result, or the run's own counts."""
    for message in reply or []:
        if isinstance(message.get("usage_metadata"), dict):
            return to_tokens(message["usage_metadata"], f"{path}outputs") or None
    usage = as_dict(as_dict(run.get("outputs")).get("llm_output")).get("token_usage")
    if isinstance(usage, dict):
        return to_tokens(usage, f"{path}outputs.llm_output.token_usage") or None
    counts = {
        k: run[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if run.get(k)
    }
    if not counts:
        return None
    return to_tokens(counts, f"{path}total_tokens") or None


def _tool_call_id(inputs: Any, outputs: Any) -> str | None:
    for holder in (outputs, inputs):
        if isinstance(holder, dict):
            for value in (holder, holder.get("output"), holder.get("input")):
                if isinstance(value, dict) and value.get("tool_call_id"):
                    return str(value["tool_call_id"])
    return None


def _info(root: dict[str, Any] | None, members: list[_Run]) -> TraceInfo:
    """What the root run says about the trace; feedback from every run in it."""
    feedback = [entry for run, _, _ in members for entry in _feedback(run, run is root)]
    if root is None:
        return TraceInfo(metadata={}, feedback=feedback)
    extra = dict(root.get("extra") or {})
    metadata = {k: v for k, v in (extra.pop("metadata", None) or {}).items() if k != "_feedback"}
    rest = {k: v for k, v in root.items() if k not in _TRACE_MAPPED and v is not None}
    rest.update(name=root.get("name"), root_run_id=root.get("id"))
    if extra:
        rest["extra"] = extra
    counts = {
        k: root[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if root.get(k)
    }
    return TraceInfo(
        metadata=merge_metadata(metadata, rest),
        input=root.get("inputs"),
        output=root.get("outputs"),
        cost_usd=float(root["total_cost"]) if root.get("total_cost") else None,
        tokens=to_tokens(counts, "total_tokens") if counts else None,
        error=str(root["error"]) if root.get("error") else None,
        feedback=feedback,
    )


def _feedback(run: dict[str, Any], is_root: bool) -> list[Row]:
    """Feedback of one run: reviewers' ``_feedback``, ``feedback`` objects, ``feedback_stats``."""
    entries: list[Row] = []
    metadata = (run.get("extra") or {}).get("metadata") or {}
    noted = metadata.get("_feedback")
    for note in noted if isinstance(noted, list) else [noted] if noted else []:
        entries.append(_entry(note, "metadata._feedback"))
    for item in run.get("feedback") or []:
        if isinstance(item, dict):
            entries.append(
                _entry(item, (item.get("feedback_source") or {}).get("type", "feedback"))
            )
    for key, stats in (run.get("feedback_stats") or {}).items():
        value = stats.get("avg") if isinstance(stats, dict) else stats
        entries.append({"name": key, "value": value, "source": "feedback_stats", "comment": None})
    if not is_root:
        for entry in entries:
            entry["span_id"] = run.get("id")
    return entries


def _entry(note: Any, source: str) -> Row:
    if not isinstance(note, dict):
        return {"name": "feedback", "value": None, "source": source, "comment": str(note)}
    value = note.get("score", note.get("value"))
    return {
        "name": note.get("key", note.get("name", "feedback")),
        "value": value,
        "source": source,
        "comment": note.get("comment"),
    }


ADAPTER = Adapter("langsmith", sniff=_sniff, convert=convert)
"""The ``langsmith`` format."""
