"""The eval builder: from a failure mode to an eval in the suite, compared, edited and tested.

:class:`EvalBuilder` proposes candidates for one failure mode (:func:`~workbench.evalgen.
propose_evals`), shows them side by side with their agreement with the human labels on dev
and where each disagrees with the humans, lets a person edit a check (typed spec, Python
source or judge prompt) and measure it again, measures the chosen one on test once, and
accepts it into the suite with its provenance. Each action is one method; the widget
(:class:`EvalBuilderWidget`, built when first shown) turns clicks into :meth:`EvalBuilder.
receive` messages that call them. An edit is data until accepted: it is checked by
:func:`~workbench.evalgen.compile_check` (Python by the sandbox, which refuses unsafe code
with a reason) and only ever runs through the evalgen runtime.

Examples:
    >>> b = EvalBuilder(ws, "overlong_reply")  # doctest: +SKIP
    >>> b.candidates[["id", "kind", "tpr", "tnr", "warning"]]  # doctest: +SKIP
    >>> best = b.get(b.candidates["id"][0])  # doctest: +SKIP
    >>> edited = b.edit(best.id, spec={**best.spec, "value": 800})  # doctest: +SKIP
    >>> b.measure(edited.id).metrics["dev"].tpr  # doctest: +SKIP
    >>> b.accept(edited.id, threshold=0.95)  # doctest: +SKIP
    'overlong_reply-length-a26abd55-edited'
"""

from __future__ import annotations

import contextlib
import inspect
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anywidget
import pandas as pd
import traitlets

from workbench import llm
from workbench.evalgen import (
    Candidate,
    ReusedTestSplitWarning,
    SplitPlan,
    compile_check,
    disagreements,
    label_set,
    propose_evals,
    validate,
)
from workbench.evalgen.alignment import low_count_note
from workbench.evalgen.fields import FIELDS
from workbench.suite import DEFAULT_THRESHOLD, Suite, SuiteFormatError
from workbench.widgets.eval_builder_state import (
    COLUMNS,
    MODEL_NOTE,
    STARTER,
    TEST_NOTE,
    candidate_row,
    edited,
    edited_spec,
    plain,
    reason,
)
from workbench.widgets.render import snippet, trace_html, trace_view

if TYPE_CHECKING:
    from workbench.workspace import Workspace

STATIC: Final = Path(__file__).parent / "static"
ROWS_SHOWN: Final = 50
"""Disagreements listed in the widget (all are counted)."""


class EvalBuilderWidget(anywidget.AnyWidget):
    """The synced view of an :class:`EvalBuilder` (view state only; built on first display)."""

    _esm = STATIC / "eval_builder.js"
    _css = STATIC / "eval_builder.css"
    cards: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)
    status = traitlets.Dict().tag(sync=True)
    expanded = traitlets.Dict().tag(sync=True)


class EvalBuilder:
    """Turn a failure mode into an accepted eval: compare, edit, measure, test once, accept.

    Args:
        ws: the workspace with the traces, the human labels and the suite (``evals/``).
        failure_mode: the failure mode to build an eval for.
        model: the LLM for judge candidates; default the configured one. Without any, only
            assertions are proposed and the widget says how to configure a model.
        kinds: the kinds of candidates to propose.
        split: the train/dev/test plan (default 40/30/30, seed 0).
        top: how many candidates to propose.
        draft: with a model, also have it draft a python check (one call).
        max_judge_traces: measure a judge on at most this many labelled traces per split
            (a balanced, seeded sample; a call each); default all.
        **llm_kw: passed to every LLM call (``mock_response`` in tests).

    Raises:
        KeyError: the workspace has no such failure mode (the known ones are named).
    """

    def __init__(
        self,
        ws: Workspace,
        failure_mode: str,
        model: str | None = None,
        *,
        kinds: Sequence[str] = ("assertion", "judge"),
        split: SplitPlan | None = None,
        top: int = 5,
        draft: bool = True,
        max_judge_traces: int | None = None,
        **llm_kw: Any,
    ) -> None:
        known = sorted(ws.failure_modes()["name"])
        if failure_mode not in known:
            raise KeyError(f"no failure mode {failure_mode!r} in {ws.path}; known: {known}")
        self.ws, self.failure_mode, self.model = ws, failure_mode, model
        self.kinds, self.split, self.top, self.llm_kw = tuple(kinds), split, top, llm_kw
        self.draft, self.max_judge_traces = draft, max_judge_traces
        self.selected: str | None = None
        """The id of the candidate shown in detail."""
        self.message = ""
        """The outcome of the last action, shown in the widget's status line."""
        self.notes: list[str] = []
        """Warnings of the last action (few labels, a refused draft ...), shown in the widget."""
        self.model_note = ""
        """How to configure a model, when judges were skipped for want of one."""
        self._pool: list[Candidate] | None = None
        self._origin: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._found: dict[tuple[str, str], pd.DataFrame] = {}
        self._quiet = self._reported = False
        self._widget: EvalBuilderWidget | None = None

    def __repr__(self) -> str:
        count = "not proposed yet" if self._pool is None else f"{len(self._pool)} candidates"
        return f"<EvalBuilder {self.failure_mode!r}: {count}, selected {self.selected!r}>"

    def propose(self) -> list[Candidate]:
        """Propose candidates afresh from the current labels, best first (edits are dropped).

        Raises:
            ValueError: no failing or no clean labels of the failure mode yet.
        """
        model = self._model()
        kinds = [k for k in self.kinds if k != "judge" or model is not None]
        self.model_note = MODEL_NOTE if "judge" in self.kinds and model is None else ""
        with self._caught():
            pool = propose_evals(
                self.ws, self.failure_mode, kinds, model, self.split, self.top,
                draft=self.draft, max_judge_traces=self.max_judge_traces, **self.llm_kw,
            )  # fmt: skip
        self._pool, self._origin, self._errors, self._found = pool, {}, {}, {}
        self.selected = pool[0].id if pool else None
        self._say(f"{len(pool)} candidates for {self.failure_mode}, best first")
        return list(pool)

    @property
    def candidates(self) -> pd.DataFrame:
        """One row per candidate, best first, an edit right after what it was edited from.

        Columns are :data:`COLUMNS`: the figures ``n`` ... ``kappa`` are on dev (NaN until
        measured), ``warning`` says when they rest on few labels, ``test_*`` are NaN until
        :meth:`test`, and ``in_suite`` is True once the id is in the suite.
        """
        in_suite = self._suite_ids()
        rows = [
            candidate_row(c, self._origin.get(c.id), c.id in in_suite) for c in self._candidates()
        ]
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def get(self, candidate_id: str) -> Candidate:
        """The candidate with this id (KeyError naming the ids there are)."""
        pool = self._candidates()
        found = next((c for c in pool if c.id == candidate_id), None)
        if found is None:
            raise KeyError(f"no candidate {candidate_id!r}; candidates: {[c.id for c in pool]}")
        return found

    def select(self, candidate_id: str) -> Candidate:
        """Show a candidate in detail: its editor, disagreements, test and accept."""
        candidate = self.get(candidate_id)
        self.selected = candidate.id
        self._say("")
        return candidate

    def edit(
        self,
        candidate_id: str,
        *,
        spec: Mapping[str, Any] | None = None,
        prompt: str | None = None,
        source: str | None = None,
    ) -> Candidate:
        """Save an edited copy of a candidate as a new, unmeasured one (``<id>-edited``).

        Give one of ``spec`` (a whole spec, e.g. ``{**c.spec, "value": 800}``), ``source``
        (Python source of ``def check(trace)``, for an assertion) or ``prompt`` (a judge's
        template, with ``$trace`` where the trace goes). It is compiled, never run.

        Raises:
            TypeError: not exactly one of spec, prompt and source.
            ValueError: the edit is refused (:class:`~workbench.evalgen.UnsafeCheckError`
                for unsafe Python), saying why; nothing is saved.
        """
        if sum(part is not None for part in (spec, prompt, source)) != 1:
            raise TypeError("edit takes exactly one of spec=, prompt= or source=")
        old = self.get(candidate_id)
        try:
            new_spec = edited_spec(old, spec, prompt, source)
        except (ValueError, TypeError) as error:
            self._errors[old.id] = f"not saved: {error}"
            self._refuse(self._errors[old.id])
            raise
        self._errors.pop(old.id, None)
        same = next((c for c in self._family(old.id) if c.spec == new_spec), None)
        if same is not None:
            self.selected = same.id
            self._say(f"unchanged: {same.id} has that check already")
            return same
        new = edited(old, new_spec, self._free_id(old.id))
        self._insert(old.id, new)
        self.selected = new.id
        self._say(f"saved {new.id}; measure it on dev")
        return new

    def measure(self, candidate_id: str, split: str = "dev") -> Candidate:
        """Measure a candidate against the current human labels on dev (or train).

        Raises:
            ValueError: for ``"test"`` (that is :meth:`test`, once) or an unknown split.
        """
        if split not in ("train", "dev"):
            raise ValueError(f"measure on 'train' or 'dev', not {split!r}; test is b.test(id)")
        return self._validated(candidate_id, split)

    def test(self, candidate_id: str) -> Candidate:
        """Measure a candidate on the test split: once, for the candidate you chose.

        Warns:
            ReusedTestSplitWarning: the test split was used before (for it or another).
        """
        used = [c.id for c in self._candidates() if "test" in c.metrics and c.id != candidate_id]
        with self._caught():
            if used:
                note = f"the test split was already used for {used}; " + TEST_NOTE
                warnings.warn(ReusedTestSplitWarning(note), stacklevel=2)
            return self._validated(candidate_id, "test")

    def disagreements(self, candidate_id: str, split: str = "dev") -> pd.DataFrame:
        """Labelled traces of a split where the candidate and the humans differ.

        Columns as :func:`workbench.evalgen.disagreements` (``trace_id``, ``human``, ``check``,
        ``disagreement``, ``reason``, ``input``, ``output``). Computed once per candidate and
        split (a judge calls its model).
        """
        candidate = self.get(candidate_id)
        key = (candidate.id, split)
        if key not in self._found:
            with self._caught():
                labels = label_set(self.ws, self.failure_mode, self._plan(candidate))
                found = disagreements(candidate, labels.traces, labels, split, **self.llm_kw)
            self._found[key] = found
        return self._found[key].copy()

    def expand(self, trace_id: str) -> str:
        """A trace as escaped HTML: what the widget shows when a disagreement is clicked."""
        html = trace_html(trace_view(self.ws.trace(trace_id)))
        if self._widget is not None:
            self._widget.expanded = {"trace_id": trace_id, "html": html}
        return html

    @property
    def suite(self) -> Suite:
        """The workspace's suite (``ws.suite``, else the one in ``ws.evals_dir``)."""
        found = getattr(self.ws, "suite", None)
        return found if isinstance(found, Suite) else Suite(self.ws.evals_dir, workspace=self.ws)

    def accept(
        self, candidate_id: str, threshold: float | None = None, *, replace: bool = False
    ) -> str:
        """Save a measured candidate into the suite with its provenance; return the eval id.

        Args:
            candidate_id: the candidate.
            threshold: the least pass rate the CI gate accepts (default the suite's, 0.9).
            replace: overwrite an eval of the suite that has the same id.

        Raises:
            ValueError: not measured on dev, a refused check, an id already in the suite
                (without ``replace``) or a threshold outside [0, 1].
        """
        candidate = self.get(candidate_id)
        try:
            if "dev" not in candidate.metrics:
                raise ValueError(f"{candidate.id} is not measured: measure it on dev first, so "
                                 "the suite records how it agrees with the labels")  # fmt: skip
            if candidate.kind == "assertion":
                compile_check(candidate.spec)
            saved = self.suite.add(candidate, threshold=threshold, replace=replace)
        except (ValueError, TypeError) as error:
            self._refuse(f"not accepted: {reason(error)}")
            raise
        self._say(f"accepted {saved.id} into {self.suite.path.name}/suite.yaml "
                  f"(gate: pass rate >= {saved.threshold:g})")  # fmt: skip
        return saved.id

    # The widget ---------------------------------------------------------------------------

    def receive(self, message: Mapping[str, Any]) -> None:
        """Handle a message from the front end, the way the widget's ``on_msg`` does.

        ``type`` is ``select``, ``measure`` (``split``), ``test`` or ``accept`` (``threshold``,
        ``replace``) with ``id``; ``edit`` with ``id``, one of ``spec``, ``prompt``,
        ``source``, and ``measure`` (true: measure on dev at once); ``expand`` with
        ``trace_id``; or ``propose``. A refused action is reported in the status line.
        """
        cid, threshold = str(message.get("id")), message.get("threshold")
        handlers: dict[str, Callable[[], object]] = {
            "select": lambda: self.select(cid),
            "measure": lambda: self.measure(cid, str(message.get("split", "dev"))),
            "test": lambda: self.test(cid),
            "accept": lambda: self.accept(
                cid,
                None if threshold in (None, "") else float(threshold),
                replace=bool(message.get("replace")),
            ),
            "edit": lambda: self._edit_message(cid, message),
            "expand": lambda: self.expand(str(message.get("trace_id"))),
            "propose": self.propose,
        }
        self._quiet, self._reported = True, False
        try:
            kind = str(message.get("type"))
            if kind not in handlers:
                raise ValueError(f"unknown message type {kind!r}")
            handlers[kind]()
        except (LookupError, ValueError, TypeError, llm.WorkbenchLLMError) as error:
            if not self._reported:
                self._say(f"not done: {reason(error)}")
        finally:
            self._quiet = False

    def view_state(self) -> dict[str, Any]:
        """What the widget shows: ``cards``, ``detail`` (of the selected one) and ``status``."""
        try:
            pool = self._candidates()
        except (LookupError, ValueError) as error:
            pool, self.message = [], f"no candidates: {reason(error)}"
        in_suite = self._suite_ids()
        labels = label_set(self.ws, self.failure_mode, self._plan(pool[0])) if pool else None
        labels_note = low_count_note(labels, "dev") if labels is not None else ""
        cards = [candidate_row(c, self._origin.get(c.id), c.id in in_suite) for c in pool]
        chosen = next((c for c in pool if c.id == self.selected), None)
        status = {
            "failure_mode": self.failure_mode, "message": self.message,
            "notes": [n for n in self.notes if n != labels_note], "labels_note": labels_note,
            "model_note": self.model_note, "test_note": TEST_NOTE, "fields": list(FIELDS),
            "threshold": DEFAULT_THRESHOLD, "suite": str(self.suite.path),
            "selected": self.selected,
        }  # fmt: skip
        return {
            "cards": [plain(card) for card in cards],
            "detail": {} if chosen is None else self._detail(chosen, chosen.id in in_suite),
            "status": status,
        }

    @property
    def widget(self) -> EvalBuilderWidget:
        """The synced widget, built on first use (displaying the builder shows it)."""
        if self._widget is None:
            widget = EvalBuilderWidget()
            widget.on_msg(lambda _widget, content, _buffers: self.receive(content))
            self._widget = widget
            self._push()
        return self._widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # Internals ----------------------------------------------------------------------------

    def _candidates(self) -> list[Candidate]:
        if self._pool is None:
            self.propose()
        return list(self._pool or [])

    def _model(self) -> str | None:
        if self.model is not None:
            return self.model
        try:
            return llm.require_model("judge candidates")
        except llm.ModelNotConfigured:
            return None

    def _plan(self, candidate: Candidate) -> SplitPlan:
        return self.split or SplitPlan(seed=candidate.provenance.split_seed)

    def _validated(self, candidate_id: str, split: str) -> Candidate:
        old = self.get(candidate_id)
        with self._caught():
            new = validate(
                old, self.ws, split=split, plan=self._plan(old),
                max_judge_traces=self.max_judge_traces, **self.llm_kw,
            )  # fmt: skip
        self._pool = [new if c.id == new.id else c for c in self._candidates()]
        self._found = {k: v for k, v in self._found.items() if k[0] != new.id}
        m = new.metrics[split]
        self._say(f"{new.id} on {split}: TPR {m.tpr:.2f}, TNR {m.tnr:.2f}, n {m.n}")
        return new

    def _edit_message(self, candidate_id: str, message: Mapping[str, Any]) -> None:
        parts = {k: message[k] for k in ("spec", "prompt", "source") if k in message}
        edited = self.edit(candidate_id, **parts)
        if message.get("measure") and "dev" not in edited.metrics:
            self.measure(edited.id)

    def _family(self, candidate_id: str) -> list[Candidate]:
        def root(cid: str) -> str:
            while cid in self._origin:
                cid = self._origin[cid]
            return cid

        return [c for c in self._candidates() if root(c.id) == root(candidate_id)]

    def _insert(self, origin: str, new: Candidate) -> None:
        pool, family = self._candidates(), {c.id for c in self._family(origin)}
        at = max(i for i, c in enumerate(pool) if c.id in family) + 1
        self._origin[new.id] = origin
        self._pool = [*pool[:at], new, *pool[at:]]

    def _free_id(self, candidate_id: str) -> str:
        base = re.sub(r"-edited(-\d+)?$", "", candidate_id)[:100]
        taken = {c.id for c in self._candidates()} | self._suite_ids()
        names = (f"{base}-edited" + (f"-{n}" if n > 1 else "") for n in range(1, 10_000))
        return next(name for name in names if name not in taken)

    def _suite_ids(self) -> set[str]:
        try:
            return {e.id for e in self.suite.load().evals}
        except SuiteFormatError as error:
            self.notes = [*dict.fromkeys([*self.notes, f"the suite on disk is invalid: {error}"])]
            return set()

    @contextlib.contextmanager
    def _caught(self) -> Iterator[None]:
        """Keep an action's warnings as notes; pass them on too unless the widget asked."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        self.notes = list(dict.fromkeys(str(w.message) for w in caught))
        level, frame = 1, inspect.currentframe()
        while frame is not None and frame.f_globals.get("__name__") in (__name__, "contextlib"):
            level, frame = level + 1, frame.f_back  # point at the code that called the builder
        for found in caught if not self._quiet else []:
            warnings.warn(found.message, stacklevel=level)

    def _detail(self, c: Candidate, in_suite: bool) -> dict[str, Any]:
        found = self.disagreements(c.id) if "dev" in c.metrics else pd.DataFrame()
        rows = found.head(ROWS_SHOWN).astype(str).map(snippet).to_dict("records")
        editor = "python" if c.spec.get("type") == "python" else "fields"
        editor = "judge" if c.kind == "judge" else editor
        text = {"judge": c.spec.get("prompt"), "python": c.spec.get("value")}.get(editor)
        return {
            "id": c.id, "kind": c.kind, "editor": editor, "spec": plain(c.spec),
            "text": STARTER if text is None else str(text), "error": self._errors.get(c.id, ""),
            "measured": "dev" in c.metrics, "tested": "test" in c.metrics, "in_suite": in_suite,
            "rows": rows, "total": len(found),
        }  # fmt: skip

    def _say(self, message: str) -> None:
        self.message = message
        self._push()

    def _refuse(self, message: str) -> None:
        self._reported = True
        self._say(message)

    def _push(self) -> None:
        if self._widget is None:
            return
        state = self.view_state()
        with self._widget.hold_sync():
            self._widget.cards, self._widget.detail = state["cards"], state["detail"]
            self._widget.status = state["status"]
