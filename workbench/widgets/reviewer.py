"""The reviewer: go through traces one by one, mark pass/fail, write notes, tag failure modes.

:class:`Reviewer` is the object a notebook user holds. Every action is one call of the
workspace API (``ws.label``, ``ws.tag``, ``ws.untag``, ``ws.undo``), committed before the call
returns; the reviewer itself keeps only the queue and the position in it. The synced widget
(:class:`ReviewerWidget`) is built the first time the reviewer is shown, holds only view
state, and turns clicks and keys into messages that go through :meth:`Reviewer.receive`, the
same path that :meth:`Reviewer.press` takes, so the key map is testable without a browser.

Examples:
    >>> import workbench as wb
    >>> ws = wb.open_workspace("analysis")  # doctest: +SKIP
    >>> r = Reviewer(ws, annotator="ana")  # doctest: +SKIP
    >>> r.press("f"), r.toggle("invented_policy"), r.next()  # doctest: +SKIP
    >>> r  # shows the widget in a notebook  # doctest: +SKIP
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anywidget
import pandas as pd
import traitlets

from workbench.widgets.render import trace_view
from workbench.widgets.review_state import (
    FILTERS,
    KEYMAP,
    Filters,
    Progress,
    build_queue,
    label_of,
    reviewed_count,
    scope_of,
    stable_order,
    widget_options,
)

if TYPE_CHECKING:
    from workbench.store import Event
    from workbench.workspace import Workspace

STATIC: Final = Path(__file__).parent / "static"


class ReviewerWidget(anywidget.AnyWidget):
    """The synced view of a :class:`Reviewer` (view state only; built on first display)."""

    _esm = STATIC / "reviewer.js"
    _css = STATIC / "reviewer.css"
    trace = traitlets.Dict().tag(sync=True)
    label = traitlets.Dict().tag(sync=True)
    status = traitlets.Dict().tag(sync=True)
    focus_request = traitlets.Dict().tag(sync=True)
    show_help = traitlets.Bool(False).tag(sync=True)


class Reviewer:
    """Review traces of a workspace one at a time, by keys or clicks; every action autosaves.

    Args:
        ws: the workspace to read traces from and write events to.
        traces: restrict the queue to these traces: a list of ids, or a frame with a
            ``trace_id`` column (e.g. a lasso selection from the cluster map, or the cluster
            table, whose ``cluster`` column then serves the ``cluster`` filter).
        annotator: who is reviewing; every event carries this name.
        filter: ``"unreviewed"`` (no verdict from ``annotator`` yet), ``"all"``,
            ``"reviewed"``, ``"fail"`` or ``"pass"`` (``annotator``'s verdict).
        cluster: only traces in this cluster (needs a ``cluster`` column in ``traces``).
        failure_mode: only traces that someone tagged with this failure mode.
        labelled_by: only traces that this annotator labelled (to review their work).

    Examples:
        >>> r = Reviewer(ws, annotator="ana")  # doctest: +SKIP
        >>> r.mark("fail"), r.note("made up a refund rule")  # doctest: +SKIP
        >>> r.progress  # doctest: +SKIP
        Progress(reviewed=1, total=200)
    """

    def __init__(
        self,
        ws: Workspace,
        traces: Sequence[str] | pd.Series | pd.DataFrame | None = None,
        annotator: str = "ana",
        filter: str = "unreviewed",
        cluster: Any = None,
        failure_mode: str | None = None,
        labelled_by: str | None = None,
    ) -> None:
        if not isinstance(annotator, str) or not annotator.strip():
            raise ValueError(f"annotator must be a non-empty name, got {annotator!r}")
        self.ws = ws
        self.annotator = annotator.strip()
        self.focus = "root"
        """Where keys go in the widget: ``"root"`` (actions), ``"note"`` or ``"tag"``."""
        self.show_help = False
        self.message = ""
        """The last action's outcome, shown in the widget's status line."""
        self._scope, self._clusters = scope_of(traces)
        self._filters = Filters()
        self._queue: list[str] = []
        self._in_queue: set[str] = set()
        self._position = 0
        self._mode_order: list[str] = []
        self._views: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._widget: ReviewerWidget | None = None
        self._shown: str | None = None
        self.set_filter(filter, cluster=cluster, failure_mode=failure_mode, labelled_by=labelled_by)

    def __repr__(self) -> str:
        reviewed, total = self.progress
        return f"<Reviewer {self.annotator!r}: {reviewed} of {total} reviewed, at {self.current!r}>"

    # Queue and position -------------------------------------------------------------------

    @property
    def current(self) -> str | None:
        """The id of the trace on screen (None when the queue is empty)."""
        return self._queue[self._position] if self._queue else None

    @property
    def queue(self) -> list[str]:
        """The trace ids to review, in order (a copy)."""
        return list(self._queue)

    @property
    def filters(self) -> dict[str, Any]:
        """The filters that made the queue."""
        return vars(self._filters).copy()

    @property
    def progress(self) -> Progress:
        """How many traces of the queue have a verdict from this annotator."""
        mine = self.ws.labels(annotator=self.annotator)
        reviewed = reviewed_count(mine, self.annotator, self._in_queue)
        return Progress(reviewed, len(self._queue))

    def set_filter(
        self,
        filter: str = "unreviewed",
        *,
        cluster: Any = None,
        failure_mode: str | None = None,
        labelled_by: str | None = None,
    ) -> list[str]:
        """Rebuild the queue from filters (all of them apply) and go to its first trace.

        The queue is fixed until the next call: traces reviewed meanwhile stay in it, so
        :meth:`previous` comes back to them.

        Returns:
            The new queue.
        """
        if filter not in FILTERS:
            raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
        if cluster is not None and self._clusters is None:
            raise ValueError(
                "filtering by cluster needs the cluster table: Reviewer(ws, clusters, cluster=3)"
            )
        group = None if cluster is None else str(cluster)
        self._filters = Filters(filter, group, failure_mode, labelled_by)
        self._queue = build_queue(self.ws, self.annotator, self._filters, self._scope)
        if group is not None and self._clusters is not None:
            self._queue = [t for t in self._queue if self._clusters.get(t) == group]
        self._in_queue = set(self._queue)
        self._position = 0
        self.message = f"{len(self._queue)} traces in the queue"
        self._push()
        return self.queue

    def next(self) -> str | None:
        """Go to the next trace of the queue; returns the id now shown."""
        return self._move(self._position + 1)

    def previous(self) -> str | None:
        """Go back to the previous trace of the queue; returns the id now shown."""
        return self._move(self._position - 1)

    def skip(self) -> str | None:
        """Move the current trace to the end of the queue and show the next one."""
        if self._position >= len(self._queue) - 1:
            self._say("nothing after this trace to skip to")
            return self.current
        self._queue.append(self._queue.pop(self._position))
        self.message = "skipped: it is now last in the queue"
        self._push()
        return self.current

    def goto(self, trace_id: str) -> str | None:
        """Show a trace; one outside the queue is put in it, after the current trace.

        Raises:
            KeyError: when the workspace has no such trace.
        """
        if trace_id not in self._in_queue:
            self.ws.trace(trace_id)  # raises KeyError naming the id
            self._position = min(self._position + 1, len(self._queue))
            self._queue.insert(self._position, trace_id)
            self._in_queue.add(trace_id)
        self._position = self._queue.index(trace_id)
        self.message = ""
        self._push()
        return self.current

    # Annotation: one call, one event ------------------------------------------------------

    def mark(self, verdict: str | None, trace_id: str | None = None) -> Event | None:
        """Set this annotator's verdict (``"pass"``, ``"fail"``, or None to clear).

        Marking with the verdict the trace already has writes nothing and returns None.
        """
        if verdict not in ("pass", "fail", None):
            raise ValueError(f"verdict must be 'pass', 'fail' or None, got {verdict!r}")
        target = self._target(trace_id)
        if self._label(target)["verdict"] == verdict:
            self._say(f"already {verdict}")
            return None
        event = self.ws.label(target, verdict, annotator=self.annotator)
        return self._done(event, f"marked {verdict}")

    def note(self, text: str, trace_id: str | None = None) -> Event | None:
        """Replace this annotator's note on the trace (an unchanged note writes nothing)."""
        if not isinstance(text, str):
            raise TypeError(f"a note is a str, got {type(text).__name__}")
        target = self._target(trace_id)
        label = self._label(target)
        if (label["note"] or "") == text:
            return None
        event = self.ws.label(target, label["verdict"], note=text, annotator=self.annotator)
        return self._done(event, "note saved")

    def tag(self, failure_mode: str, trace_id: str | None = None) -> Event | None:
        """Put a failure mode on the trace; a new name creates the failure mode."""
        target = self._target(trace_id)
        name = failure_mode.strip() if isinstance(failure_mode, str) else failure_mode
        if name in self._label(target)["failure_modes"]:
            self._say(f"already tagged {name}")
            return None
        return self._done(self.ws.tag(target, name, annotator=self.annotator), f"tagged {name}")

    def toggle(self, failure_mode: str, trace_id: str | None = None) -> Event | None:
        """Put a failure mode on the trace, or take it off if it is there."""
        target = self._target(trace_id)
        if failure_mode not in self._label(target)["failure_modes"]:
            return self.tag(failure_mode, target)
        event = self.ws.untag(target, failure_mode, annotator=self.annotator)
        return self._done(event, f"untagged {failure_mode}")

    def undo(self) -> Event | None:
        """Undo this annotator's last action, and show the trace it was about."""
        event = self.ws.undo(self.annotator)
        if event is None:
            self._say("nothing to undo")
            return None
        if event.trace_id in self._in_queue:
            self._position = self._queue.index(event.trace_id)
        return self._done(event, f"undid {event.payload.get('kind', 'the last action')}")

    @property
    def modes(self) -> list[str]:
        """The failure modes in the order the keys 1-9 toggle them (stable while reviewing)."""
        self._mode_order = stable_order(self._mode_order, self.ws.failure_modes()["name"])
        return list(self._mode_order)

    # Keys and messages --------------------------------------------------------------------

    def press(self, key: str, trace_id: str | None = None) -> str:
        """Do what a key does in the widget (see :data:`KEYMAP`); returns the action's name.

        Raises:
            KeyError: for a key with no action.
        """
        if key not in KEYMAP:
            raise KeyError(f"no action on key {key!r}; keys: {', '.join(KEYMAP)}")
        action = KEYMAP[key]
        self._actions(trace_id)[action.rstrip("0123456789")](action)
        return action

    def receive(self, message: Mapping[str, Any]) -> None:
        """Handle a message from the front end, the way the widget's ``on_msg`` does.

        Messages: ``{"type": "key", "key": "f", "trace_id": ...}``, ``{"type": "note",
        "text": ..., "trace_id": ...}``, ``{"type": "tag" | "toggle", "mode": ...,
        "trace_id": ...}``, ``{"type": "goto", "trace_id": ...}`` and ``{"type": "filter",
        "filter": ..., "cluster": ..., "failure_mode": ..., "labelled_by": ...}``. An action
        the workspace refuses is reported in the widget's status line.
        """
        kind, trace_id = message.get("type"), message.get("trace_id")
        try:
            if kind == "key":
                self.press(str(message.get("key")), trace_id)
            elif kind == "note":
                self.note(message.get("text"), trace_id)  # type: ignore[arg-type]
            elif kind in ("tag", "toggle"):
                getattr(self, str(kind))(message.get("mode"), trace_id)
            elif kind == "goto":
                self.goto(str(trace_id))
            elif kind == "filter":
                extra = {
                    k: message.get(k) or None for k in ("cluster", "failure_mode", "labelled_by")
                }
                self.set_filter(str(message.get("filter") or "all"), **extra)
            else:
                raise ValueError(f"unknown message type {kind!r}")
        except (LookupError, ValueError, TypeError) as error:
            self._say(f"not done: {error}")

    # View state ---------------------------------------------------------------------------

    def view_state(self) -> dict[str, Any]:
        """Return what the widget shows: ``trace`` (view model), ``label`` and ``status``."""
        current, table = self.current, self.ws.failure_modes()
        labels = self.ws.labels(annotator=self.annotator)
        self._mode_order = stable_order(self._mode_order, table["name"])
        status = {
            "annotator": self.annotator,
            "position": self._position,
            "total": len(self._queue),
            "reviewed": reviewed_count(labels, self.annotator, self._in_queue),
            "filters": vars(self._filters).copy(),
            "message": self.message,
            **widget_options(self._mode_order, table, self.ws.annotators(), self._clusters),
        }
        return {
            "trace": self._view(current) if current is not None else {},
            "label": {"trace_id": current, **label_of(labels, current, self.annotator)},
            "status": status,
        }

    @property
    def widget(self) -> ReviewerWidget:
        """The synced widget, built on first use (displaying the reviewer shows it)."""
        if self._widget is None:
            widget = ReviewerWidget()
            widget.on_msg(lambda _widget, content, _buffers: self.receive(content))
            widget.observe(lambda change: setattr(self, "show_help", change["new"]), "show_help")
            self._widget = widget
            self._push()
        return self._widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # Internals ----------------------------------------------------------------------------

    def _actions(self, trace_id: str | None) -> dict[str, Callable[[str], Any]]:
        return {
            "pass": lambda a: self.mark(a, trace_id),
            "fail": lambda a: self.mark(a, trace_id),
            "next": lambda a: self.next(),
            "previous": lambda a: self.previous(),
            "skip": lambda a: self.skip(),
            "undo": lambda a: self.undo(),
            "toggle_": lambda a: self.toggle(self._nth_mode(int(a[7:])), trace_id),
            "focus_tag": lambda a: self._focus("tag"),
            "focus_note": lambda a: self._focus("note"),
            "leave_input": lambda a: self._focus("root"),
            "help": lambda a: self._help(not self.show_help),
        }

    def _nth_mode(self, n: int) -> str:
        modes = self.modes
        if n > len(modes):
            raise LookupError(f"there is no failure mode {n}; {len(modes)} exist")
        return modes[n - 1]

    def _target(self, trace_id: str | None) -> str:
        target = trace_id if trace_id is not None else self.current
        if target is None:
            raise LookupError("no trace to act on: the queue is empty")
        return target

    def _label(self, trace_id: str | None) -> dict[str, Any]:
        mine = self.ws.labels(annotator=self.annotator, trace_id=trace_id) if trace_id else None
        return label_of(mine, trace_id, self.annotator)

    def _view(self, trace_id: str) -> dict[str, Any]:
        if trace_id not in self._views:
            self._views[trace_id] = trace_view(self.ws.trace(trace_id))
            while len(self._views) > 64:
                self._views.popitem(last=False)
        return self._views[trace_id]

    def _move(self, position: int) -> str | None:
        if not 0 <= position < len(self._queue):
            self._say("start of the queue" if position < 0 else "end of the queue")
            return self.current
        self._position = position
        self.message = ""
        self._push()
        return self.current

    def _focus(self, where: str) -> None:
        self.focus = where
        if self._widget is not None:
            count = int(self._widget.focus_request.get("n", 0)) + 1
            self._widget.focus_request = {"target": where, "n": count}

    def _help(self, shown: bool) -> None:
        self.show_help = shown
        if self._widget is not None:
            self._widget.show_help = shown

    def _say(self, message: str) -> None:
        self.message = message
        self._push()

    def _done(self, event: Event, message: str) -> Event:
        self.message = message
        self._push()
        return event

    def _push(self) -> None:
        """Send the view state to the widget, if it is built."""
        if self._widget is None:
            return
        state = self.view_state()
        with self._widget.hold_sync():
            if self._shown != self.current:
                self._widget.trace = state["trace"]
                self._shown = self.current
            self._widget.label = state["label"]
            self._widget.status = state["status"]
