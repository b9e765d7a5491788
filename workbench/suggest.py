"""From open codes to failure modes: LLM suggestions a person accepts, and saturation.

After a round of open coding, the notes on failing traces are grouped into named
failure modes (axial coding). An LLM can propose the grouping, but only a person
decides: :func:`suggest_failure_modes` returns proposals, and nothing changes in the
workspace until one is accepted. :func:`saturation` tells when to stop reviewing:
when the last traces read brought no new failure mode.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench import llm
from workbench.data_fence import defuse
from workbench.llm_json import prompt

if TYPE_CHECKING:
    from workbench.workspace import Workspace

_NAME = re.compile(r"[^a-z0-9]+")


def answer_schema(n_notes: int) -> dict[str, Any]:
    """The JSON the model must answer with, bounded so that an answer always ends."""
    mode = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 60},
            "definition": {"type": "string", "maxLength": 300},
            "note_ids": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": max(n_notes - 1, 0)},
                "maxItems": n_notes,
            },
        },
        "required": ["name", "definition", "note_ids"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"failure_modes": {"type": "array", "items": mode, "maxItems": 12}},
        "required": ["failure_modes"],
        "additionalProperties": False,
    }


class SuggestionWarning(UserWarning):
    """The model's answer needed tidying (unknown note ids, repeated names)."""


@dataclass(frozen=True)
class Suggestion:
    """One proposed failure mode and the traces whose notes it groups."""

    name: str
    """Proposed name, snake_case."""
    definition: str
    """One-sentence definition a new reviewer could apply."""
    trace_ids: tuple[str, ...]
    """Traces whose notes the mode groups."""
    notes: tuple[str, ...]
    """Those notes, in the same order."""


@dataclass
class Suggestions:
    """Proposed failure modes, waiting for a person to accept, edit or reject each.

    Examples:
        >>> s = wb.suggest_failure_modes(ws)  # doctest: +SKIP
        >>> s.accept("invented_policy",
        ...          definition="States a policy the tools did not return.")  # doctest: +SKIP
        >>> s.reject("misc")  # doctest: +SKIP
    """

    workspace: Workspace
    """Where accepted modes are written."""
    annotator: str | None
    """Who accepts (recorded on the events)."""
    items: list[Suggestion]
    """The proposals, in the model's order."""
    decided: dict[str, str] = field(default_factory=dict)
    """Proposal name -> "accepted as <name>" or "rejected"."""

    @property
    def table(self) -> pd.DataFrame:
        """The proposals: name, definition, traces, an example note, and the decision."""
        return pd.DataFrame(
            [
                {
                    "name": s.name,
                    "definition": s.definition,
                    "traces": len(s.trace_ids),
                    "example note": s.notes[0] if s.notes else "",
                    "decision": self.decided.get(s.name, "pending"),
                }
                for s in self.items
            ],
            columns=["name", "definition", "traces", "example note", "decision"],
        )

    def _repr_html_(self) -> str:
        return str(self.table.to_html(index=False, escape=True))

    def __repr__(self) -> str:
        return self.table.to_string(index=False)

    def accept(
        self, name: str, *, as_name: str | None = None, definition: str | None = None
    ) -> None:
        """Create the mode (optionally renamed or redefined) and tag its traces with it."""
        suggestion = self._get(name)
        final = as_name or suggestion.name
        self.workspace.define(final, definition or suggestion.definition, annotator=self.annotator)
        for trace_id in suggestion.trace_ids:
            self.workspace.tag(trace_id, final, annotator=self.annotator)
        self.decided[name] = f"accepted as {final}"

    def reject(self, name: str) -> None:
        """Leave a proposal out; nothing is written."""
        self._get(name)
        self.decided[name] = "rejected"

    def _get(self, name: str) -> Suggestion:
        for suggestion in self.items:
            if suggestion.name == name:
                if name in self.decided:
                    raise ValueError(f"suggestion {name!r} is already {self.decided[name]}")
                return suggestion
        raise KeyError(f"no suggestion named {name!r}; suggestions: {[s.name for s in self.items]}")


def suggest_failure_modes(
    ws: Workspace,
    *,
    model: str | None = None,
    annotator: str | None = None,
    max_notes: int = 400,
    **llm_options: Any,
) -> Suggestions:
    """Ask the LLM to group the open-coding notes of failing traces into failure modes.

    Only notes on traces marked ``fail`` are sent (through :mod:`workbench.llm`, with
    its redaction hook); trace text itself is not. Each note is one JSON string inside the
    prompt's data fence, with fence markers in it defused
    (:func:`workbench.data_fence.defuse`). Nothing is applied: accept or reject each
    proposal on the returned :class:`Suggestions`.

    Args:
        ws: the workspace whose notes are grouped.
        model: litellm model name; default the configured one.
        annotator: who accepts the proposals (default: the workspace's annotator).
        max_notes: the most recent notes to send, at most.
        **llm_options: passed to :func:`workbench.llm.complete_json` (e.g. ``temperature``).

    Raises:
        ModelNotConfigured: no model is set; the message says how to set one.
        ValueError: no failing trace has a note yet.
    """
    chosen = model or llm.require_model("suggest_failure_modes")
    notes = _failing_notes(ws).tail(max_notes).reset_index(drop=True)
    if notes.empty:
        raise ValueError("no failing trace has a note yet: review some traces first")
    existing = ws.failure_modes()["name"].tolist()
    text = prompt("suggest_failure_modes.md").substitute(
        existing=", ".join(_one_line(str(n)) for n in existing) if existing else "(none yet)",
        notes="\n".join(f"{i}: {_one_line(n)}" for i, n in enumerate(notes["note"])),
    )
    schema = answer_schema(len(notes))
    answer = llm.complete_json(text, schema, model=chosen, name="failure_modes", **llm_options)
    items = _suggestions(answer.parsed, notes)
    return Suggestions(ws, annotator, items)


def _failing_notes(ws: Workspace) -> pd.DataFrame:
    """trace_id and note of every failing trace that has a non-empty note, oldest first."""
    labels = ws.labels()
    if labels.empty:
        return pd.DataFrame(columns=["trace_id", "note"])
    has_note = labels["note"].map(lambda n: isinstance(n, str) and bool(n.strip()))
    failing = labels[(labels["verdict"] == "fail") & has_note]
    return failing[["trace_id", "note"]].reset_index(drop=True)


def _suggestions(parsed: Any, notes: pd.DataFrame) -> list[Suggestion]:
    """Turn the model's JSON into suggestions, dropping ids it made up and repeated names."""
    items: list[Suggestion] = []
    unknown: list[int] = []
    for mode in parsed["failure_modes"]:
        name = _NAME.sub("_", str(mode["name"]).lower()).strip("_")
        if not name or any(s.name == name for s in items):
            continue
        ids = [i for i in mode["note_ids"] if isinstance(i, int) and 0 <= i < len(notes)]
        unknown += [i for i in mode["note_ids"] if i not in ids]
        rows = notes.iloc[sorted(set(ids))]
        items.append(
            Suggestion(
                name,
                str(mode["definition"]).strip(),
                tuple(dict.fromkeys(rows["trace_id"])),
                tuple(rows["note"]),
            )
        )
    if unknown:
        warnings.warn(
            f"the model named note ids that do not exist: {unknown[:10]}; they were left out",
            SuggestionWarning,
            stacklevel=3,
        )
    return items


def _one_line(note: str) -> str:
    """A note as one JSON string with fence markers defused, for the prompt's data fence.

    On one line, a note can not pose as several; defused, it can not close the fence early
    (``[END DATA]`` reads ``(END DATA)``, so its meaning stays readable).
    """
    return json.dumps(defuse(note), ensure_ascii=False)


@dataclass(frozen=True)
class Saturation:
    """How many new failure modes the most recently reviewed traces brought."""

    window: int
    """How many of the latest reviewed traces were looked at."""
    reviewed: int
    """Reviewed traces in all."""
    new_modes: tuple[str, ...]
    """Failure modes first tagged on one of those traces."""

    def __str__(self) -> str:
        verdict = (
            "saturated: the taxonomy looks complete"
            if not self.new_modes and self.reviewed >= self.window
            else "keep reviewing"
        )
        names = f" ({', '.join(self.new_modes)})" if self.new_modes else ""
        return (
            f"{len(self.new_modes)} new failure mode(s){names} in the last "
            f"{min(self.window, self.reviewed)} of {self.reviewed} reviewed traces: {verdict}"
        )


def saturation(ws: Workspace, window: int = 20) -> Saturation:
    """Count the failure modes that first appeared among the last ``window`` reviewed traces.

    Examples:
        >>> print(wb.saturation(ws, window=20))  # doctest: +SKIP
        0 new failure mode(s) in the last 20 of 140 reviewed traces: saturated: ...
    """
    events = ws.history()
    live = events[~events["undone"]] if "undone" in events else events
    reviewed = live[live["kind"].isin(["label", "note", "tag"])].drop_duplicates("trace_id")
    recent = set(reviewed["trace_id"].tail(window))
    tags = live[live["kind"] == "tag"].copy()
    tags["mode"] = tags["payload"].map(lambda p: p.get("failure_mode"))
    first = tags.drop_duplicates("mode")
    new = tuple(first.loc[first["trace_id"].isin(recent), "mode"])
    return Saturation(window, len(reviewed), new)
