"""From the files of a suite to validated records, and from a candidate to an entry.

:func:`load_suite` reads ``suite.yaml`` and every eval file it lists, validates all of it,
and reports every problem at once, each naming its file and field. Each eval comes back as a
:class:`SuiteEval`: the entry of ``suite.yaml`` and the :class:`Candidate` rebuilt from disk,
with the content hash of its file *now* (``version``) beside the one recorded at acceptance.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> load_suite(Path(tempfile.mkdtemp()) / "evals").evals
    ()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.evalgen.candidate import Candidate, Metrics, Provenance
from workbench.suite.assertion_file import parse_assertion
from workbench.suite.format import (
    AlignmentEntry,
    EvalEntry,
    LabelledTraces,
    ProvenanceEntry,
    SuiteDocument,
    SuiteFormatError,
    display_path,
    file_version,
    load_document,
)
from workbench.suite.judge_file import parse_front_matter, parse_judge

INLINE_IDS = 25
"""Up to this many labelled trace ids are listed in ``suite.yaml``; more go to a file."""


@dataclass(frozen=True)
class SuiteEval:
    """One eval of a suite as found on disk."""

    id: str
    """The eval id, unique in the suite."""
    kind: str
    """``"assertion"`` or ``"judge"``."""
    failure_mode: str
    """The failure mode it checks for."""
    threshold: float
    """The least pass rate the CI gate accepts."""
    file: Path
    """The eval's file."""
    version: str
    """Content hash of the file now; it names the eval's results in the cache."""
    accepted_version: str
    """Content hash recorded in ``suite.yaml`` when the eval was written."""
    candidate: Candidate
    """The eval rebuilt from disk: spec, rationale, provenance, alignment."""

    @property
    def edited(self) -> bool:
        """True when the file changed since ``suite.yaml`` recorded it (e.g. by hand)."""
        return self.version != self.accepted_version


@dataclass(frozen=True)
class LoadedSuite:
    """Everything in a suite folder, validated."""

    path: Path
    """The evals folder."""
    failure_modes: dict[str, str]
    """Failure mode name -> definition."""
    evals: tuple[SuiteEval, ...]
    """The evals, in the order of ``suite.yaml``."""
    document: SuiteDocument
    """``suite.yaml`` as parsed, for writing it back."""


def load_suite(evals_dir: Path) -> LoadedSuite:
    """Read and validate a suite folder; a missing folder is an empty suite.

    Raises:
        SuiteFormatError: Every problem found, one per line, naming file and field.
    """
    doc = load_document(evals_dir)
    records: list[SuiteEval] = []
    problems: list[str] = []
    for index, entry in enumerate(doc.evals):
        try:
            records.append(_load_eval(evals_dir, index, entry))
        except SuiteFormatError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SuiteFormatError(problems)
    modes = {name: mode.definition for name, mode in doc.failure_modes.items()}
    return LoadedSuite(evals_dir, modes, tuple(records), doc)


def _load_eval(evals_dir: Path, index: int, entry: EvalEntry) -> SuiteEval:
    suite_file = display_path(evals_dir, evals_dir / "suite.yaml")
    path = evals_dir / entry.file
    display = display_path(evals_dir, path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise SuiteFormatError(
            [f"{suite_file}: evals[{index}].file: {entry.file} does not exist"]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteFormatError([f"{display}: not UTF-8 text ({exc.reason})"]) from None
    if entry.kind == "assertion":
        spec = parse_assertion(text, display)
    else:
        spec = parse_judge(text, display)
        _check_judge_names(text, display, entry, suite_file, index)
    ids = _labelled_ids(evals_dir, entry.provenance, suite_file, index)
    candidate = Candidate(
        id=entry.id,
        kind=entry.kind,
        spec=spec,
        rationale=entry.rationale,
        provenance=Provenance(
            failure_mode=entry.provenance.failure_mode,
            generator=entry.provenance.generator,
            created_at=entry.provenance.created_at,
            labelled_trace_ids=ids,
            annotators=tuple(entry.provenance.annotators),
            split_seed=entry.provenance.split_seed,
        ),
        metrics={name: _metrics(name, a) for name, a in entry.alignment.items()},
    )
    return SuiteEval(
        id=entry.id,
        kind=entry.kind,
        failure_mode=entry.provenance.failure_mode,
        threshold=float(entry.threshold),
        file=path,
        version=file_version(data),
        accepted_version=entry.version,
        candidate=candidate,
    )


def _check_judge_names(
    text: str, display: str, entry: EvalEntry, suite_file: str, index: int
) -> None:
    front, _ = parse_front_matter(text, display)
    problems = []
    if front.id != entry.id:
        problems.append(
            f"{display}: id: {front.id!r} differs from {suite_file} evals[{index}].id {entry.id!r}"
        )
    if front.failure_mode != entry.provenance.failure_mode:
        problems.append(
            f"{display}: failure_mode: {front.failure_mode!r} differs from {suite_file} "
            f"evals[{index}].provenance.failure_mode {entry.provenance.failure_mode!r}"
        )
    if problems:
        raise SuiteFormatError(problems)


def _labelled_ids(
    evals_dir: Path, provenance: ProvenanceEntry, suite_file: str, index: int
) -> tuple[str, ...]:
    if provenance.labelled_traces is None:
        return tuple(provenance.labelled_trace_ids or ())
    where = f"{suite_file}: evals[{index}].provenance.labelled_traces"
    listed = provenance.labelled_traces
    path = evals_dir / listed.file
    if Path(listed.file).is_absolute() or ".." in Path(listed.file).parts:
        raise SuiteFormatError([f"{where}.file: must be a relative path inside the evals folder"])
    try:
        ids = tuple(line.strip() for line in path.read_text("utf-8").splitlines() if line.strip())
    except FileNotFoundError:
        raise SuiteFormatError([f"{where}.file: {listed.file} does not exist"]) from None
    if len(ids) != listed.count:
        raise SuiteFormatError(
            [f"{where}.count: {listed.count}, but {listed.file} lists {len(ids)} ids"]
        )
    return ids


def _metrics(name: str, entry: AlignmentEntry) -> Metrics:
    return Metrics(
        split=entry.split or name,
        tp=entry.tp,
        fp=entry.fp,
        tn=entry.tn,
        fn=entry.fn,
        ungraded=entry.ungraded,
    )


def entry_for(
    candidate: Candidate, file: str, threshold: float, version: str, labels_file: str | None
) -> EvalEntry:
    """The ``suite.yaml`` entry of a candidate written to ``file``.

    ``labels_file`` is where the labelled trace ids were written when there are more than
    :data:`INLINE_IDS`; None lists them inline.
    """
    p = candidate.provenance
    ids = list(p.labelled_trace_ids)
    return EvalEntry(
        id=candidate.id,
        kind=candidate.kind,
        file=file,
        threshold=threshold,
        version=version,
        rationale=candidate.rationale,
        provenance=ProvenanceEntry(
            failure_mode=p.failure_mode,
            generator=p.generator,
            created_at=p.created_at,
            labelled_trace_ids=ids if labels_file is None else None,
            labelled_traces=None
            if labels_file is None
            else LabelledTraces(count=len(ids), file=labels_file),
            annotators=list(p.annotators),
            split_seed=p.split_seed,
        ),
        alignment={
            name: AlignmentEntry.model_validate(_finite(m.as_dict()))
            for name, m in candidate.metrics.items()
        },
    )


def _finite(values: dict[str, object]) -> dict[str, object]:
    """Rates that are NaN (no examples of a class) are left out rather than written as .nan."""
    return {k: v for k, v in values.items() if not (isinstance(v, float) and v != v)}
