"""The eval suite on disk: ``evals/suite.yaml``, its validation, and atomic writes.

``suite.yaml`` lists the failure modes with their definitions and one entry per eval: id,
kind, file, gate threshold, content hash of the file (``version``), provenance and the
alignment with human labels at acceptance. The checks themselves live beside it, in
``assertions/<id>.py`` and ``judges/<id>.md`` (see :mod:`workbench.suite.assertion_file`
and :mod:`workbench.suite.judge_file`). Everything is validated when loaded, and every
problem names the file and the field, e.g. ``evals/suite.yaml: evals[2].threshold: must
be between 0 and 1``. Every write goes to a temporary file first and is then renamed over
the old one, so a crash never leaves a half-written file.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp()) / "evals"
    >>> save_document(folder, SuiteDocument())
    >>> load_document(folder).schema_version
    1
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION = 1
"""The version of the on-disk format this code reads and writes."""

SUITE_FILE = "suite.yaml"
"""The index file inside the evals folder."""

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")
"""Eval ids: they name files, so letters, digits, ``_``, ``.`` and ``-`` only."""

_HEADER = """\
# The eval suite of this workspace, kept in git and run on new traces every week.
# Edit it by hand or with `ws.suite`; the checks live in assertions/*.py and judges/*.md.
# threshold: the least pass rate an eval may have before the CI gate fails.
# version: content hash of the eval's file when it was accepted; an edited file gets a new
# one (shown as `edited` in ws.suite.evals). alignment: agreement with the human labels then.
"""


class SuiteFormatError(ValueError):
    """The suite on disk is not valid; the message lists every problem with file and field.

    Attributes:
        problems: One line per problem, each ``<file>: <field>: <what is wrong>``.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


# ---------------------------------------------------------------- the models of suite.yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FailureModeEntry(_Strict):
    """A failure mode as listed in ``suite.yaml``."""

    definition: str = ""
    """What the failure looks like, in the team's words."""


class LabelledTraces(_Strict):
    """A long list of labelled trace ids kept in a file beside ``suite.yaml``."""

    count: int = Field(ge=0)
    """How many ids the file holds (checked when loaded)."""
    file: str
    """Path of the file, one id per line, relative to the evals folder."""


class ProvenanceEntry(_Strict):
    """Where an eval came from (mirrors :class:`workbench.evalgen.candidate.Provenance`)."""

    failure_mode: str
    generator: str
    created_at: str
    labelled_trace_ids: list[str] | None = None
    labelled_traces: LabelledTraces | None = None
    annotators: list[str] = []
    split_seed: int = 0

    @field_validator("created_at", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        # YAML reads an unquoted timestamp as a datetime; keep it as the ISO text it was.
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat().replace("+00:00", "Z")
        return value


class AlignmentEntry(BaseModel):
    """Agreement with the human labels on one split; rates are recomputed from the counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split: str | None = None
    tp: int = Field(ge=0)
    fp: int = Field(ge=0)
    tn: int = Field(ge=0)
    fn: int = Field(ge=0)
    ungraded: int = Field(default=0, ge=0)
    n: int | None = None
    tpr: float | None = None
    tnr: float | None = None
    precision: float | None = None
    f1: float | None = None


class EvalEntry(_Strict):
    """One eval of the suite."""

    id: str
    kind: Literal["assertion", "judge"]
    file: str
    threshold: float
    version: str
    rationale: str = ""
    provenance: ProvenanceEntry
    alignment: dict[str, AlignmentEntry] = {}

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a valid id (letters, digits, '_', '.', '-'; "
                "at most 120 characters, starting with a letter or digit)"
            )
        return value

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number between 0 and 1, got {value!r}")
        if not 0.0 <= float(value) <= 1.0 or math.isnan(float(value)):
            raise ValueError(f"must be between 0 and 1, got {value!r}")
        return value

    @field_validator("file")
    @classmethod
    def _file(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or ".." in path.parts or value.strip() != value or not value:
            raise ValueError(f"{value!r} must be a relative path inside the evals folder")
        return value


class SuiteDocument(_Strict):
    """The whole of ``suite.yaml``."""

    schema_version: int = SCHEMA_VERSION
    failure_modes: dict[str, FailureModeEntry] = {}
    evals: list[EvalEntry] = []

    @field_validator("schema_version")
    @classmethod
    def _schema(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {value} (this trace-workbench reads "
                f"{SCHEMA_VERSION}; upgrade it to read newer suites)"
            )
        return value


# ---------------------------------------------------------------- errors


def display_path(evals_dir: Path, path: Path) -> str:
    """How a file is named in messages: relative to the folder that holds ``evals/``.

    Examples:
        >>> display_path(Path("analysis/evals"), Path("analysis/evals/suite.yaml"))
        'evals/suite.yaml'
    """
    try:
        return path.relative_to(evals_dir.parent).as_posix()
    except ValueError:
        return path.as_posix()


def field_name(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a field path: ``evals[2].threshold``.

    Examples:
        >>> field_name(("evals", 2, "threshold"))
        'evals[2].threshold'
    """
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (a typo?)",
}


def problems_of(display: str, error: ValidationError, prefix: str = "") -> list[str]:
    """One ``<file>: <field>: <problem>`` line per pydantic error."""
    out = []
    for item in error.errors():
        where = field_name(item["loc"])
        where = f"{prefix}.{where}" if prefix and where != "(top level)" else prefix or where
        message = _MESSAGES.get(item["type"], str(item["msg"]).removeprefix("Value error, "))
        out.append(f"{display}: {where}: {message}")
    return out


def read_yaml(path: Path, display: str) -> Any:
    """Parse a YAML file safely, naming the file, line and column on a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteFormatError([f"{display}: file not found"]) from None
    except UnicodeDecodeError as exc:
        raise SuiteFormatError([f"{display}: not UTF-8 text ({exc.reason})"]) from None
    return parse_yaml(text, display)


def parse_yaml(text: str, display: str, line_offset: int = 0) -> Any:
    """Parse YAML text; a syntax error names ``display`` and the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark else ""
        raise SuiteFormatError([f"{display}: {where}: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise SuiteFormatError([f"{display}: {exc}"]) from None


# ---------------------------------------------------------------- read and write


def load_document(evals_dir: Path) -> SuiteDocument:
    """Read and validate ``suite.yaml``; a missing file is an empty suite.

    Raises:
        SuiteFormatError: The file is not valid YAML or not a valid suite.
    """
    path = evals_dir / SUITE_FILE
    if not path.exists():
        return SuiteDocument()
    display = display_path(evals_dir, path)
    raw = read_yaml(path, display)
    if raw is None:
        return SuiteDocument()
    if not isinstance(raw, Mapping):
        raise SuiteFormatError([f"{display}: must hold a YAML mapping, not {type(raw).__name__}"])
    empty: dict[str, Any] = {"evals": [], "failure_modes": {}}
    raw = {**raw, **{k: v for k, v in empty.items() if k in raw and raw[k] is None}}
    try:
        doc = SuiteDocument.model_validate(raw)
    except ValidationError as exc:
        raise SuiteFormatError(problems_of(display, exc)) from None
    _check_ids_and_modes(doc, display)
    return doc


def _check_ids_and_modes(doc: SuiteDocument, display: str) -> None:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(doc.evals):
        if entry.id in seen:
            first = seen[entry.id]
            problems.append(
                f"{display}: evals[{i}].id: duplicate id {entry.id!r} (also evals[{first}])"
            )
        seen.setdefault(entry.id, i)
        mode = entry.provenance.failure_mode
        if mode not in doc.failure_modes:
            problems.append(
                f"{display}: evals[{i}].provenance.failure_mode: {mode!r} is not listed under "
                f"failure_modes (listed: {', '.join(sorted(doc.failure_modes)) or 'none'})"
            )
    if problems:
        raise SuiteFormatError(problems)


def dump_document(doc: SuiteDocument) -> str:
    """The YAML text of ``doc``: a header comment, then fields in a fixed, readable order."""
    data = doc.model_dump(mode="json", exclude_none=True)
    for entry in data["evals"]:
        if not entry.get("alignment"):
            entry.pop("alignment", None)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return _HEADER + body


def save_document(evals_dir: Path, doc: SuiteDocument) -> None:
    """Write ``suite.yaml`` atomically (and ``.gitignore`` for the result cache, once)."""
    ensure_gitignore(evals_dir)
    atomic_write_text(evals_dir / SUITE_FILE, dump_document(doc))


def ensure_gitignore(evals_dir: Path) -> None:
    """Write ``evals/.gitignore`` keeping the result cache out of git, unless one exists.

    Temporary files of a write that a crash cut short (never read) are kept out too.
    """
    ignore = evals_dir / ".gitignore"
    if not ignore.exists():
        atomic_write_text(
            ignore,
            "# results cached by `workbench eval run`; safe to delete\n.cache/\n"
            "# left by a write that a crash cut short; safe to delete\n.*.tmp\n",
        )


def file_version(data: bytes) -> str:
    r"""The content hash that versions an eval file: 12 hex digits of its sha256.

    Examples:
        >>> file_version(b"def check(trace):\n    return True\n")
        '4247bd0e0101'
    """
    return hashlib.sha256(data).hexdigest()[:12]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never a part.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file
    is renamed over ``path`` (``os.replace`` is atomic on POSIX and Windows).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text with newline line ends."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows opening a folder."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
