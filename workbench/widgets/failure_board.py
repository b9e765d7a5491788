"""The failure-mode board: what fails most, with examples, and rename / merge / split in place.

:class:`FailureModes` ranks the failure modes of a workspace by how many traces carry each
(the table that tells a team what to fix first), shows each one's definition and example
traces, and reorganises them through :meth:`Workspace.rename`, :meth:`Workspace.merge`,
:meth:`Workspace.split` and :meth:`Workspace.define`. The widget (ipywidgets) is built when
the board is first shown; every button is one of the board's methods.

Examples:
    >>> board = FailureModes(ws, annotator="ana")  # doctest: +SKIP
    >>> board.merge(["made_up_policy", "fake_rule"], into="invented_policy")  # doctest: +SKIP
    >>> board.table()[["name", "count"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from workbench.traces.show import reveal_bidi
from workbench.widgets.render import snippet

if TYPE_CHECKING:
    from workbench.store import Event
    from workbench.workspace import Workspace


class FailureModes:
    """The failure modes of a workspace, ranked by count, reorganised in place.

    Args:
        ws: the workspace.
        annotator: who renames, merges and splits (every event carries the name); None
            lets the workspace decide (``WORKBENCH_ANNOTATOR`` or ``ws.set("annotator", ...)``).
        examples: how many example traces to show per failure mode.

    Examples:
        >>> board = FailureModes(ws, annotator="ana")  # doctest: +SKIP
        >>> board  # in a notebook: the chart, the table and the controls  # doctest: +SKIP
        >>> board.rename("fake_rule", "invented_policy")  # doctest: +SKIP
    """

    def __init__(self, ws: Workspace, annotator: str | None = None, examples: int = 3) -> None:
        self.ws = ws
        self.annotator = annotator
        self.examples = examples
        self.message = ""
        """The outcome of the last action, shown under the controls."""
        self._widget: w.VBox | None = None
        self._parts: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<FailureModes: {len(self.ws.failure_modes())} failure modes>"

    # Data ---------------------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """Return the failure modes, most frequent first, with example trace ids.

        Columns: ``name``, ``definition``, ``count``, ``share`` (as
        :meth:`Workspace.failure_modes`) and ``examples`` (list of trace ids).
        """
        table = self.ws.failure_modes().copy()
        tagged = _tagged(self.ws.labels())
        table["examples"] = [tagged.get(name, [])[: self.examples] for name in table["name"]]
        return table

    def example_rows(self, name: str) -> list[dict[str, str]]:
        """Return the example traces of a failure mode: id, start of the input, the notes.

        The texts are plain (escape them for HTML) with bidi controls shown as ``[U+202E]``
        marks (see :func:`~workbench.traces.show.reveal_bidi`), so trace text can not
        reorder the board around it.
        """
        labels = self.ws.labels()
        rows = []
        for trace_id in _tagged(labels).get(name, [])[: self.examples]:
            notes = labels.loc[labels["trace_id"] == trace_id, "note"].dropna()
            rows.append(
                {
                    "trace_id": reveal_bidi(str(trace_id)),
                    "input": reveal_bidi(snippet(self.ws.trace(trace_id).get("input"), 120)),
                    "note": reveal_bidi(snippet(" / ".join(str(n) for n in notes if n), 200)),
                }
            )
        return rows

    # Actions: one call, one event ---------------------------------------------------------

    def rename(self, old: str, new: str) -> Event:
        """Rename a failure mode (see :meth:`Workspace.rename`)."""
        return self._done(self.ws.rename(old, new, annotator=self.annotator), f"renamed {old}")

    def merge(self, sources: Sequence[str], into: str, definition: str | None = None) -> Event:
        """Fold failure modes into one (see :meth:`Workspace.merge`)."""
        event = self.ws.merge(sources, into=into, definition=definition, annotator=self.annotator)
        return self._done(event, f"merged into {into}")

    def split(self, name: str, parts: Mapping[str, Sequence[str]]) -> Event:
        """Move some traces of a failure mode to other modes (see :meth:`Workspace.split`)."""
        event = self.ws.split(name, parts, annotator=self.annotator)
        return self._done(event, f"split {name}")

    def define(self, name: str, definition: str) -> Event:
        """Create a failure mode or set its definition (see :meth:`Workspace.define`)."""
        event = self.ws.define(name, definition, annotator=self.annotator)
        return self._done(event, f"defined {name}")

    def refresh(self) -> None:
        """Redraw the widget from the workspace (after tagging elsewhere)."""
        if self._widget is None:
            return
        table = self.table()
        names = list(table["name"])
        self._parts["chart"].value = chart_html(table)
        self._parts["list"].value = self._list_html(table)
        self._parts["modes"].options = [(reveal_bidi(str(n)), n) for n in names]
        self._parts["message"].value = _shown(self.message)

    # Widget -------------------------------------------------------------------------------

    @property
    def widget(self) -> w.VBox:
        """The board's widget, built on first use (displaying the board shows it)."""
        if self._widget is None:
            self._widget = self._build()
            self.refresh()
        return self._widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _build(self) -> w.VBox:
        text = {"layout": w.Layout(width="220px")}
        parts: dict[str, Any] = {
            "chart": w.HTML(),
            "list": w.HTML(),
            "modes": w.SelectMultiple(description="modes", rows=6),
            "name": w.Text(placeholder="new name / merge into", **text),
            "ids": w.Text(placeholder="trace ids to split off, comma-separated", **text),
            "definition": w.Textarea(placeholder="definition", layout=w.Layout(width="440px")),
            "message": w.HTML(),
        }
        self._parts = parts
        buttons = []
        for label, handler in (
            ("Rename", self._on_rename),
            ("Merge", self._on_merge),
            ("Split", self._on_split),
            ("Define", self._on_define),
            ("Refresh", lambda: self.refresh()),
        ):
            button = w.Button(description=label, layout=w.Layout(width="auto"))
            button.on_click(lambda _button, handler=handler: self._safely(handler))
            buttons.append(button)
        controls = w.VBox(
            [
                w.HBox([parts["modes"], w.VBox([parts["name"], parts["ids"]])]),
                parts["definition"],
                w.HBox(buttons),
                parts["message"],
            ]
        )
        return w.VBox([parts["chart"], parts["list"], controls])

    def _selected(self, count: int | None = None) -> list[str]:
        chosen = list(self._parts["modes"].value)
        if not chosen or (count is not None and len(chosen) != count):
            raise ValueError(f"select {count or 'one or more'} failure mode(s) in the list first")
        return chosen

    def _on_rename(self) -> None:
        self.rename(self._selected(1)[0], self._parts["name"].value)

    def _on_merge(self) -> None:
        self.merge(self._selected(), into=self._parts["name"].value)

    def _on_split(self) -> None:
        ids = [t.strip() for t in self._parts["ids"].value.split(",") if t.strip()]
        self.split(self._selected(1)[0], {self._parts["name"].value: ids})

    def _on_define(self) -> None:
        self.define(self._selected(1)[0], self._parts["definition"].value)

    def _safely(self, handler: Any) -> None:
        try:
            handler()
        except (LookupError, ValueError, TypeError) as error:
            self.message = f"not done: {error}"
            self.refresh()

    def _done(self, event: Event, message: str) -> Event:
        self.message = message
        self.refresh()
        return event

    def _list_html(self, table: pd.DataFrame) -> str:
        items = []
        columns = (table["name"], table["definition"], table["count"])
        for name, definition, count in zip(*columns, strict=True):
            examples = "".join(
                f"<li><code>{escape(e['trace_id'])}</code> {escape(e['input'])}"
                + (f" <i>— {escape(e['note'])}</i>" if e["note"] else "")
                + "</li>"
                for e in self.example_rows(str(name))
            )
            text = _shown(definition) if definition else "<i>no definition</i>"
            items.append(
                f"<div style='margin:6px 0'><b>{_shown(name)}</b> · {_traces(int(count))}"
                f"<div>{text}</div><ul style='margin:2px 0'>{examples}</ul></div>"
            )
        return "".join(items) or "<i>No failure modes yet: tag traces in the reviewer.</i>"


def _tagged(labels: pd.DataFrame) -> dict[str, list[str]]:
    """Failure mode -> ids of the traces tagged with it, most recently labelled first."""
    tagged: dict[str, list[str]] = {}
    for trace_id, modes in zip(
        labels["trace_id"][::-1], labels["failure_modes"][::-1], strict=True
    ):
        for name in modes:
            ids = tagged.setdefault(name, [])
            if trace_id not in ids:
                ids.append(trace_id)
    return tagged


def chart_html(table: pd.DataFrame) -> str:
    """Render failure modes as a ranked horizontal bar chart (HTML; names escaped, bidi shown).

    Args:
        table: ``name``, ``count`` and ``share`` columns, as :meth:`Workspace.failure_modes`.

    Examples:
        >>> table = pd.DataFrame({"name": ["<b>x</b>"], "count": [3], "share": [0.5]})
        >>> "&lt;b&gt;x&lt;/b&gt;" in chart_html(table)
        True
    """
    if table.empty:
        return "<i>No failure modes yet.</i>"
    ranked = table.sort_values("count", ascending=False, kind="stable")
    top = max(int(ranked["count"].max()), 1)
    rows = []
    columns = (ranked["name"], ranked["count"], ranked["share"])
    for rank, (name, count, fraction) in enumerate(zip(*columns, strict=True), start=1):
        width = 100 * int(count) / top
        share = "" if pd.isna(fraction) else f" · {float(fraction):.0%} of failures"
        rows.append(
            "<div style='display:flex;align-items:center;gap:8px;margin:2px 0'>"
            f"<span style='width:24px;text-align:right'>{rank}</span>"
            f"<span style='width:220px;overflow:hidden;text-overflow:ellipsis'>"
            f"{_shown(name)}</span>"
            f"<span style='flex:1'><span style='display:block;height:14px;width:{width:.1f}%;"
            "background:#cf222e;border-radius:2px'></span></span>"
            f"<span style='width:170px'>{int(count)}{share}</span></div>"
        )
    return "<div><b>Failure modes, most frequent first</b>" + "".join(rows) + "</div>"


def _shown(text: object) -> str:
    """Text for the board's HTML: bidi controls as marks, then escaped."""
    return escape(reveal_bidi(str(text)))


def _traces(count: int) -> str:
    return f"{count} trace" if count == 1 else f"{count} traces"
