"""The eval suite of a workspace: add and remove evals, list them, run them on new traces.

A :class:`Suite` is a thin handle on a folder (``evals/``); it keeps nothing in memory that
the files do not hold. Every call reads the folder afresh, so a hand edit made in between is
seen and never overwritten, and every write is atomic.

Examples:
    >>> import tempfile
    >>> import workbench as wb
    >>> from workbench.evalgen.candidate import Candidate, Provenance
    >>> suite = Suite(Path(tempfile.mkdtemp()) / "evals")
    >>> spec = {"type": "json_valid", "field": "tool_args"}
    >>> prov = Provenance("malformed_tool_args", "mined:json", "2026-11-20T10:00:00Z")
    >>> _ = suite.add(Candidate("tool-args-json", "assertion", spec, "", prov), threshold=0.9)
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
    >>> results = suite.run(traces, progress=False)
    >>> results["passed"].mean().round(3)
    np.float64(0.958)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.suite.assertion_file import render_assertion
from workbench.suite.cache import CACHE_DIR, CACHE_FILE, ResultCache
from workbench.suite.format import (
    ID_PATTERN,
    SUITE_FILE,
    EvalEntry,
    FailureModeEntry,
    SuiteDocument,
    atomic_write_bytes,
    atomic_write_text,
    display_path,
    ensure_gitignore,
    file_version,
    save_document,
)
from workbench.suite.judge_file import render_judge
from workbench.suite.loading import INLINE_IDS, LoadedSuite, SuiteEval, entry_for, load_suite
from workbench.suite.replay import AppInput, run_with_app
from workbench.suite.runner import run_evals

if TYPE_CHECKING:
    from workbench.evalgen.candidate import Candidate
    from workbench.workspace import Workspace

DEFAULT_THRESHOLD = 0.9
"""Gate threshold of an eval added without one: at least 90% of traces must pass."""


class Suite:
    """The evals kept in a folder (``evals/``), versioned by git and run every week.

    Args:
        path: The evals folder; created on the first write.
        workspace: The workspace it belongs to; when given, failure mode definitions are
            taken from it as evals are added.
    """

    def __init__(self, path: str | os.PathLike[str], workspace: Workspace | None = None) -> None:
        self.path = Path(path)
        self.workspace = workspace

    def __repr__(self) -> str:
        return f"Suite({str(self.path)!r})"

    def load(self) -> LoadedSuite:
        """Read and validate the whole suite from disk.

        Raises:
            SuiteFormatError: Every problem found, naming file and field.
        """
        return load_suite(self.path)

    def __len__(self) -> int:
        return len(self.load().evals)

    def __iter__(self) -> Iterator[SuiteEval]:
        return iter(self.load().evals)

    def __contains__(self, eval_id: object) -> bool:
        return any(e.id == eval_id for e in self.load().evals)

    @property
    def evals(self) -> pd.DataFrame:
        """One row per eval: id, kind, failure mode, threshold, version, edited, alignment."""
        suite = self.load()
        rows = [_listing(e, suite.path) for e in suite.evals]
        return pd.DataFrame(rows, columns=list(_listing_columns()))

    def get(self, eval_id: str) -> Candidate:
        """The eval rebuilt from disk as a :class:`Candidate`.

        Raises:
            KeyError: No eval has that id (the message lists the ids there are).
        """
        return self._find(self.load(), eval_id).candidate

    def add(
        self, candidate: Candidate, threshold: float | None = None, *, replace: bool = False
    ) -> SuiteEval:
        """Write a candidate into the suite: its file, then its entry in ``suite.yaml``.

        Args:
            candidate: An accepted candidate (assertion or judge).
            threshold: The least pass rate the CI gate accepts; default: the current one
                when replacing, else :data:`DEFAULT_THRESHOLD`.
            replace: Overwrite an eval with the same id instead of refusing.

        Returns:
            The eval as now on disk.

        Raises:
            ValueError: A duplicate id without ``replace``, an invalid id or threshold, or a
                spec that cannot be written (the message names it).
        """
        if not ID_PATTERN.match(candidate.id):
            raise ValueError(f"{candidate.id!r} is not a valid eval id (letters, digits, _.-)")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        suite = self.load()
        doc = suite.document
        old = next((e for e in doc.evals if e.id == candidate.id), None)
        if old is not None and not replace:
            raise ValueError(
                f"{self._display(SUITE_FILE)}: an eval with id {candidate.id!r} exists already; "
                "pass replace=True to overwrite it"
            )
        file, text = _render(candidate)
        labels_file = self._write_labels(candidate, old)
        atomic_write_text(self.path / file, text)
        gate = threshold if threshold is not None else (old.threshold if old else DEFAULT_THRESHOLD)
        entry = entry_for(candidate, file, gate, file_version(text.encode("utf-8")), labels_file)
        evals = [entry if e.id == candidate.id else e for e in doc.evals]
        evals = evals if old is not None else [*evals, entry]
        modes = self._modes(doc, candidate.failure_mode)
        save_document(self.path, doc.model_copy(update={"evals": evals, "failure_modes": modes}))
        if old is not None and old.file != file:
            _unlink(self.path / old.file)
        old_labels = old.provenance.labelled_traces if old is not None else None
        if old_labels is not None and old_labels.file != labels_file:
            _unlink(self.path / old_labels.file)
        return self._find(self.load(), candidate.id)

    def remove(self, eval_id: str) -> None:
        """Take an eval out of ``suite.yaml``, then delete its files.

        Raises:
            KeyError: No eval has that id.
        """
        doc = self.load().document
        entry = self._find_entry(doc, eval_id)
        evals = [e for e in doc.evals if e.id != eval_id]
        save_document(self.path, doc.model_copy(update={"evals": evals}))
        _unlink(self.path / entry.file)
        if entry.provenance.labelled_traces is not None:
            _unlink(self.path / entry.provenance.labelled_traces.file)

    def set_threshold(self, eval_id: str, threshold: float) -> None:
        """Change the gate threshold of an eval (its file, and so its version, stay).

        Raises:
            KeyError: No eval has that id. ValueError: threshold outside [0, 1].
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        doc = self.load().document
        self._find_entry(doc, eval_id)
        evals = [
            e.model_copy(update={"threshold": threshold}) if e.id == eval_id else e
            for e in doc.evals
        ]
        save_document(self.path, doc.model_copy(update={"evals": evals}))

    def run(
        self,
        traces: pd.DataFrame,
        *,
        evals: Sequence[str] | None = None,
        repeats: int = 1,
        max_cost: float | None = None,
        cache: bool = True,
        model: str | None = None,
        progress: bool = True,
        workers: int | None = None,
        app: Callable[[Any], Any] | None = None,
        app_input: AppInput = "input",
        app_concurrency: int = 4,
    ) -> pd.DataFrame:
        """Run the suite on traces: one row per trace x eval (x repeat).

        Assertions run in this process (python checks in the sandbox's worker process);
        judges run through :mod:`workbench.llm`, concurrently up to its ``max_concurrency``,
        with its retries. Every finished judge call is stored at once in
        ``evals/.cache/results.sqlite3`` by (eval version, trace content, model, repeat), so
        a re-run, or a run resumed after Ctrl-C or a crash, calls nothing twice.

        Args:
            traces: Canonical traces (``wb.load_traces``).
            evals: Ids to run; default all.
            repeats: Run each judge this many times per trace, to measure flakiness
                (:func:`workbench.suite.flakiness`); adds a ``repeat`` column when > 1.
            max_cost: Stop calling judges before this run's spending (USD) would pass it;
                what finished is kept, the rest is ``status="skipped"``.
            cache: False ignores stored verdicts (and the LLM cache) and asks again.
            model: Use this model for every judge instead of the one in its file.
            progress: Show a progress bar for the judge calls.
            workers: Processes for typed assertions; default 1 below 20,000 traces, else up
                to 4 (forked; 1 runs them in this process).
            app: Your app, as a function (or ``async`` function) of each trace's input:
                with it, every repeat grades a fresh answer from the app instead of the
                logged one, so :func:`~workbench.suite.flakiness` shows how much the app and
                the judges vary together. It returns the reply (str) or a dict of trace
                fields; an exception leaves that trace ungraded for that repeat. See
                :mod:`workbench.suite.replay`.
            app_input: What ``app`` is called with: ``"input"`` (the opening request),
                ``"messages"`` (the chat up to the last user turn) or ``"trace"`` (a dict).
            app_concurrency: App calls in flight at once.

        Returns:
            Columns ``trace_id``, ``eval``, (``repeat``), ``failure_mode``, ``kind``,
            ``version``, ``model``, ``passed`` (nullable boolean: True = failure absent, NA =
            could not grade or skipped), ``status`` (pass, fail, ungraded, skipped),
            ``reason``, ``latency_s``, ``tokens`` and ``cost_usd`` (spent now; 0 when cached)
            and ``cached``; with ``app``, also ``repeat`` (always) and ``app_output``.

        Raises:
            KeyError: An id in ``evals`` is not in the suite.
            KeyboardInterrupt: Interrupted; finished judge calls are kept for the next run.
        """
        suite = self.load()
        chosen = [self._find(suite, i) for i in evals] if evals is not None else suite.evals
        ensure_gitignore(self.path)
        store = ResultCache(self.path / CACHE_DIR / CACHE_FILE)

        spent = [0.0]  # one budget for the whole run, also when it is made repeat by repeat

        def run(frame: pd.DataFrame, repeats: int = repeats, first: int = 0) -> pd.DataFrame:
            left = max_cost if max_cost is None or not spent[0] else max(0.0, max_cost - spent[0])
            results = run_evals(
                chosen, frame, repeats=repeats, max_cost=left, cache=store,
                read_cache=cache, model=model, progress=progress, workers=workers,
                first_repeat=first,
            )  # fmt: skip
            spent[0] += float(results["cost_usd"].fillna(0.0).sum())
            return results

        try:
            if app is None:
                return run(traces)
            return run_with_app(
                lambda frame, repeat: run(frame, 1, repeat), chosen, traces, app,
                repeats=repeats, app_input=app_input, concurrency=app_concurrency,
                model=model, progress=progress,
            )  # fmt: skip
        finally:
            store.close()

    # ------------------------------------------------------------ helpers

    def _display(self, name: str) -> str:
        return display_path(self.path, self.path / name)

    def _find(self, suite: LoadedSuite, eval_id: str) -> SuiteEval:
        for record in suite.evals:
            if record.id == eval_id:
                return record
        known = ", ".join(e.id for e in suite.evals) or "none"
        raise KeyError(f"no eval {eval_id!r} in {self._display(SUITE_FILE)} (ids: {known})")

    def _find_entry(self, doc: SuiteDocument, eval_id: str) -> Any:
        for entry in doc.evals:
            if entry.id == eval_id:
                return entry
        known = ", ".join(e.id for e in doc.evals) or "none"
        raise KeyError(f"no eval {eval_id!r} in {self._display(SUITE_FILE)} (ids: {known})")

    def _modes(self, doc: SuiteDocument, name: str) -> dict[str, FailureModeEntry]:
        modes = dict(doc.failure_modes)
        definition = modes[name].definition if name in modes else ""
        if self.workspace is not None:
            table = self.workspace.failure_modes()
            found = table.loc[table["name"] == name, "definition"]
            if len(found) and isinstance(found.iloc[0], str) and found.iloc[0].strip():
                definition = found.iloc[0]
        modes[name] = FailureModeEntry(definition=definition)
        return modes

    def _write_labels(self, candidate: Candidate, old: EvalEntry | None) -> str | None:
        ids = candidate.provenance.labelled_trace_ids
        if len(ids) <= INLINE_IDS:
            return None
        data = "".join(f"{i}\n" for i in ids).encode("utf-8")
        file = f"labels/{candidate.id}.txt"
        listed = old.provenance.labelled_traces if old is not None else None
        if listed is not None and listed.file == file and (self.path / file).read_bytes() != data:
            # suite.yaml names that file, with its count, until it is rewritten: write the new
            # list beside it (no id has an @), so a crash in between leaves the old pair intact
            file = f"labels/{candidate.id}@{file_version(data)}.txt"
        atomic_write_bytes(self.path / file, data)
        return file


def _render(candidate: Candidate) -> tuple[str, str]:
    if candidate.kind == "judge" or candidate.spec.get("type") == "judge":
        if candidate.kind != "judge":
            raise ValueError(f"{candidate.id}: a judge spec needs kind 'judge'")
        return f"judges/{candidate.id}.md", render_judge(candidate)
    if candidate.kind != "assertion":
        raise ValueError(f"{candidate.id}: kind must be 'assertion' or 'judge'")
    return f"assertions/{candidate.id}.py", render_assertion(candidate)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _listing_columns() -> tuple[str, ...]:
    return (
        "id", "kind", "failure_mode", "threshold", "version", "edited", "file", "generator",
        "created_at", "labelled", "annotators", "split", "tpr", "tnr", "f1",
    )  # fmt: skip


def _listing(record: SuiteEval, folder: Path) -> dict[str, Any]:
    candidate = record.candidate
    metrics = next(
        (candidate.metrics[s] for s in ("test", "dev", "train") if s in candidate.metrics), None
    )
    return {
        "id": record.id,
        "kind": record.kind,
        "failure_mode": record.failure_mode,
        "threshold": record.threshold,
        "version": record.version,
        "edited": record.edited,
        "file": record.file.relative_to(folder).as_posix(),
        "generator": candidate.provenance.generator,
        "created_at": candidate.provenance.created_at,
        "labelled": len(candidate.provenance.labelled_trace_ids),
        "annotators": ", ".join(candidate.provenance.annotators),
        "split": metrics.split if metrics else None,
        "tpr": metrics.tpr if metrics else float("nan"),
        "tnr": metrics.tnr if metrics else float("nan"),
        "f1": metrics.f1 if metrics else float("nan"),
    }
