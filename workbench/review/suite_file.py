"""The eval suite as the meeting report sees it: what ``evals/suite.yaml`` lists, pass rates.

The suite's format belongs to :mod:`workbench.suite`; the report only reads a few fields
(``id``, ``kind``, ``provenance.failure_mode`` and a date) and does so defensively, so a
suite written by a newer or older workbench, or edited by hand, never breaks a report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml


@dataclass(frozen=True)
class ListedEval:
    """One eval as listed in ``evals/suite.yaml``, read defensively."""

    id: str
    """The eval's id."""

    kind: str
    """``assertion`` or ``judge`` (whatever the file says; empty when missing)."""

    failure_mode: str
    """The failure mode it checks (``provenance.failure_mode``), or empty."""

    date: str
    """When it was made (``provenance.date`` or ``created_at``, ISO text), or empty."""


def read_suite(path: Path) -> tuple[list[ListedEval], str]:
    """Read the evals listed in a ``suite.yaml``, skipping what cannot be read.

    Returns:
        The evals, and a sentence on what was wrong with the file (empty when nothing was).

    Examples:
        >>> read_suite(Path("analysis/evals/suite.yaml"))  # doctest: +SKIP
        ([ListedEval(id='no-invented-refunds', kind='judge', ...)], '')
    """
    if not path.is_file():
        return [], ""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        return [], f"could not read {path.name}: {error}"
    entries = data.get("evals") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return [], f"{path.name} has no 'evals:' list"
    evals = [_suite_eval(entry) for entry in entries]
    kept = [e for e in evals if e is not None]
    skipped = len(evals) - len(kept)
    return kept, f"skipped {skipped} entry(ies) of {path.name} without an id" if skipped else ""


def _suite_eval(entry: object) -> ListedEval | None:
    if not isinstance(entry, dict) or entry.get("id") is None:
        return None
    found = entry.get("provenance")
    provenance: dict[str, Any] = found if isinstance(found, dict) else {}
    date = provenance.get("date") or provenance.get("created_at") or entry.get("created_at")
    when = date.isoformat() if isinstance(date, dt.date) else str(date or "")
    mode = str(provenance.get("failure_mode") or "")
    return ListedEval(str(entry["id"]), str(entry.get("kind") or ""), mode, when)


def pass_rates(results: Any) -> dict[str, str]:
    """Return the pass rate per eval id of a suite run, as text ('' where unreadable).

    Examples:
        >>> pass_rates(pd.DataFrame({"eval_id": ["a", "a"], "passed": [True, False]}))
        {'a': '50% of 2'}
    """
    frame = getattr(results, "frame", results)
    if not isinstance(frame, pd.DataFrame) and callable(getattr(frame, "to_frame", None)):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame) or "passed" not in frame.columns:
        return {}
    column = next((c for c in ("eval_id", "eval", "eval_name", "name") if c in frame), None)
    if column is None:
        return {}
    rates = frame.groupby(column)["passed"].agg(["mean", "count"])
    return {str(e): f"{m:.0%} of {int(n)}" for e, m, n in rates.itertuples(name=None)}
