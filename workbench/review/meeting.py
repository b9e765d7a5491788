"""The meeting report: one self-contained HTML page on where the team's error analysis stands.

Failure modes with their counts and a chart, what changed since the previous report, how far
people agree, the disagreements still open (with snippets of the traces), the evals in the
suite and, when given, how they did. The page has no script and no external link, so it can
be mailed, archived, or opened offline by people who never open the notebook. Trace text and
notes are passed through a redactor (e-mail addresses and phone numbers by default) and
HTML-escaped.

Each report stores a snapshot of its figures in the workspace settings under
``session_report:<YYYY-MM-DD>``; the next report compares with the latest earlier one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from workbench.redact import redact_pii
from workbench.review import agreement, disagreements, open_review_session
from workbench.review.labels import reviewed, snapshot
from workbench.review.page import (
    band_badge,
    bar_chart,
    esc,
    fmt,
    paragraph,
    section,
    table,
    template,
)
from workbench.review.suite_file import pass_rates, read_suite

if TYPE_CHECKING:
    from workbench.workspace import Workspace

SNAPSHOT_PREFIX: Final = "session_report:"
"""Settings key prefix of a report's snapshot (followed by its date, ``YYYY-MM-DD``)."""

SNIPPET_CHARS: Final = 320
"""Trace text shown per disagreement, in characters."""

CHART_ROWS: Final = 15
"""Failure modes shown in the chart (the most frequent)."""

Redactor = Callable[[str], str]
"""A function that masks sensitive parts of a text (see :mod:`workbench.redact`)."""

Snapshot = dict[str, Any]
"""The stored figures of one report (plain JSON values)."""


def session_report(
    ws: Workspace,
    out: str | Path = "report.html",
    previous: str | dt.date | None = None,
    suite_results: Any = None,
    *,
    title: str | None = None,
    as_of: dt.date | None = None,
    redact: Redactor | None = redact_pii,
    max_disagreements: int = 10,
) -> Path:
    """Write the meeting report, and store its figures in the workspace for the next one.

    Args:
        ws: the workspace.
        out: the HTML file to write (its folder is created).
        previous: the date of the report to compare with (default: the latest before
            ``as_of``; none on the first report).
        suite_results: results of a suite run: a frame (or an object with ``.frame`` or
            ``.to_frame()``) with an eval id column (``eval_id``, ``eval``, ``eval_name`` or
            ``name``) and a boolean ``passed``; shows pass rates per eval.
        title: the page title (default: "Error analysis: <workspace folder>").
        as_of: the report's date (default: today, UTC); its snapshot is stored under it.
        redact: applied to trace text and notes before they are written (None: as is).
        max_disagreements: how many open disagreements to show in full.

    Returns:
        The path of the page.

    Raises:
        KeyError: when ``previous`` names a date with no stored report.

    Examples:
        >>> import workbench as wb
        >>> wb.session_report(ws, "reports/2026-11-16.html")  # doctest: +SKIP
        PosixPath('reports/2026-11-16.html')
    """
    today = as_of or dt.datetime.now(dt.UTC).date()
    before = _previous(ws, today, previous)
    now = _snapshot(ws, today)
    clean: Redactor = redact or str
    subtitle = f"Team review report of {today.isoformat()}"
    sections = [
        _summary(now),
        _modes_section(ws, before),
        _changes_section(ws, now, before),
        _agreement_section(ws, now["annotators"]),
        _disagreements_section(ws, now["annotators"], clean, max_disagreements),
        _evals_section(ws, before, suite_results),
        _session_section(ws),
    ]
    page = Template(template("session_report.html")).substitute(
        version=esc(_version()),
        title=esc(title or f"Error analysis: {ws.path.resolve().name}"),
        subtitle=esc(subtitle + (f", compared with {before['date']}" if before else "")),
        body="\n".join(sections),
        footer=esc(f"Written by trace-workbench {_version()} at {now['written_at']}."),
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    ws.set(SNAPSHOT_PREFIX + today.isoformat(), now)
    return path


# Snapshots ------------------------------------------------------------------------------


def report_snapshots(ws: Workspace) -> dict[str, Snapshot]:
    """Return the stored report snapshots by date (``YYYY-MM-DD``), oldest first."""
    stored = ws.settings
    found = {
        k[len(SNAPSHOT_PREFIX) :]: v for k, v in stored.items() if k.startswith(SNAPSHOT_PREFIX)
    }
    return dict(sorted(found.items()))


def _snapshot(ws: Workspace, today: dt.date) -> Snapshot:
    view = reviewed(snapshot(ws).view())
    modes = ws.failure_modes()
    people = sorted(set(reviewed(ws.labels())["annotator"]))
    alphas = agreement(ws)["alpha"] if people else pd.Series(dtype="float64")
    return {
        "date": today.isoformat(),
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "traces": len(ws.traces()),
        "reviewed": len(view),
        "failing": int((view["verdict"] == "fail").sum()),
        "counts": {str(n): int(c) for n, c in zip(modes["name"], modes["count"], strict=True)},
        "alpha": {str(i): None if np.isnan(a) else float(a) for i, a in alphas.items()},
        "annotators": people,
        "evals": [e.id for e in read_suite(ws.evals_dir / "suite.yaml")[0]],
    }


def _previous(ws: Workspace, today: dt.date, previous: str | dt.date | None) -> Snapshot | None:
    stored = report_snapshots(ws)
    if previous is not None:
        key = previous.isoformat() if isinstance(previous, dt.date) else str(previous)
        if key not in stored:
            raise KeyError(f"no report stored for {key!r}; stored: {list(stored)}")
        return stored[key]
    earlier = [date for date in stored if date < today.isoformat()]
    return stored[earlier[-1]] if earlier else None


# Sections -------------------------------------------------------------------------------


def _summary(now: Snapshot) -> str:
    done, failing = now["reviewed"], now["failing"]
    share = f"{failing / done:.0%} of reviewed" if done else "none reviewed yet"
    cards = [
        (now["traces"], "traces in the workspace"),
        (done, "traces with a verdict"),
        (failing, f"failing ({share})"),
        (len(now["counts"]), "failure modes"),
        (len(now["annotators"]), "reviewers: " + (", ".join(now["annotators"]) or "none yet")),
    ]
    inner = "".join(
        f"<div class='card'><b>{esc(v)}</b><span>{esc(t)}</span></div>" for v, t in cards
    )
    return f"<section><div class='cards'>{inner}</div></section>"


def _modes_section(ws: Workspace, before: Snapshot | None) -> str:
    modes = ws.failure_modes()
    if modes.empty:
        return section("Failure modes", paragraph("No failure mode yet: tag failing traces."))
    old: Mapping[str, int] = before["counts"] if before else {}
    rows = [
        [esc(name), esc(definition), esc(count), esc(fmt(share, "{:.0%}")),
         _change(int(count), old.get(name)) if before else ""]
        for name, definition, count, share in modes.itertuples(index=False)
    ]  # fmt: skip
    bars = [
        (str(n), int(c), old.get(n)) for n, c in zip(modes["name"], modes["count"], strict=True)
    ]
    chart = bar_chart(bars[:CHART_ROWS], "Traces per failure mode")
    legend = paragraph("A dark tick marks the count at the previous report.", "muted")
    headers = ["Failure mode", "Definition", "Traces", "Share of failing", "Since last"]
    body = chart + (legend if before else "") + table(headers, rows, numeric=(2, 3, 4))
    return section("Failure modes", body)


def _change(count: int, old: int | None) -> str:
    if old is None:
        return "<span class='up'>new</span>"
    delta = count - int(old)
    css = "up" if delta > 0 else "down" if delta < 0 else "muted"
    return f"<span class='{css}'>{delta:+d}</span>"


def _changes_section(ws: Workspace, now: Snapshot, before: Snapshot | None) -> str:
    if before is None:
        first = paragraph("This is the first report of this workspace; the next compares with it.")
        return section("What changed", first + _activity(ws, None))
    lines = [
        f"Traces with a verdict: {before['reviewed']} → {now['reviewed']}; "
        f"failing: {before['failing']} → {now['failing']}."
    ]
    new = [n for n in now["counts"] if n not in before["counts"]]
    gone = [n for n in before["counts"] if n not in now["counts"]]
    if new:
        lines.append(f"New failure modes: {', '.join(new)}.")
    if gone:
        lines.append(f"Failure modes gone (renamed, merged or untagged): {', '.join(gone)}.")
    was, alpha = before.get("alpha", {}).get("verdict"), now["alpha"].get("verdict")
    if was is not None and alpha is not None:
        lines.append(f"Agreement on the verdict (alpha): {was:.2f} → {alpha:.2f}.")
    added = [e for e in now["evals"] if e not in before.get("evals", [])]
    lines.append(f"Evals added: {', '.join(added)}." if added else "No eval added.")
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    heading = f"What changed since {before['date']}"
    return section(heading, f"<ul>{items}</ul>" + _activity(ws, before))


_PLURAL: Final = {  # the columns of "who did what", in order
    "label": "Verdicts",
    "note": "Notes",
    "tag": "Tags",
    "untag": "Untags",
    "adjudicate": "Adjudications",
}


def _activity(ws: Workspace, before: Snapshot | None) -> str:
    """Actions per person and kind since the previous report (or ever)."""
    events = ws.history()
    if before is not None:
        events = events[events["created_at"] > pd.Timestamp(before["written_at"])]
    if events.empty:
        return paragraph("No annotation activity in this period.", "muted")
    settled = pd.Series(
        [bool(p.get("adjudication")) for p in events["payload"]], index=events.index
    )
    kinds = events["kind"].where(~settled, "adjudicate")
    counts = pd.crosstab(events["annotator"], kinds)
    shown = [k for k in _PLURAL if k in counts.columns]
    other = counts.drop(columns=shown).sum(axis=1).astype(int)
    rows = [
        [esc(who), *(esc(counts.at[who, k]) for k in shown), esc(other[who])]
        for who in counts.index
    ]
    headers = ["Who", *(_PLURAL[k] for k in shown), "Other actions"]
    numeric = tuple(range(1, len(headers)))
    return "<h3>Who did what</h3>" + table(headers, rows, numeric=numeric)


def _agreement_section(ws: Workspace, people: Sequence[str]) -> str:
    heading = "Agreement between people"
    if len(people) < 2:
        so_far = ", ".join(people) or "nobody"
        return section(heading, paragraph(f"Needs two or more reviewers (so far: {so_far})."))
    frame = agreement(ws)
    rows = [
        [esc(item), esc(fmt(r["alpha"])), esc(fmt(r["kappa_mean"])),
         esc(fmt(r["raw_agreement"], "{:.0%}")), esc(r["n_overlap"]),
         band_badge(str(r["band"])), esc(r["note"])]
        for item, r in frame.iterrows()
    ]  # fmt: skip
    headers = ["Item", "Alpha", "Mean kappa", "Raw agreement", "Shared traces", "Band", "Note"]
    pairs: dict[tuple[str, str], float] = frame["kappa_pairs"].to_dict()["verdict"]
    per_pair = ", ".join(f"{a} and {b} {fmt(k)}" for (a, b), k in pairs.items())
    intro = paragraph(
        "On the traces two or more people reviewed: Krippendorff's alpha across everyone, "
        "Cohen's kappa per pair (and their mean), and the share of pairs that agree. The band "
        "reads alpha on the Landis and Koch scale: poor, slight, fair, moderate, substantial, "
        "almost perfect."
    )
    pair_line = paragraph(f"Kappa on the verdict per pair: {per_pair}.", "muted")
    return section(heading, intro + table(headers, rows, numeric=(1, 2, 3, 4)) + pair_line)


def _disagreements_section(
    ws: Workspace, people: Sequence[str], clean: Redactor, limit: int
) -> str:
    if len(people) < 2:
        return ""
    found = disagreements(ws)
    if found.empty:
        return section("Open disagreements", paragraph("None: the shared traces are agreed."))
    cases = "".join(_case(row, people, clean) for _, row in found.head(limit).iterrows())
    intro = paragraph(f"{len(found)} trace(s) where people differ and no lead has settled it.")
    more = paragraph(f"… and {len(found) - limit} more.", "muted") if len(found) > limit else ""
    return section("Open disagreements", intro + cases + more)


def _case(row: pd.Series[Any], people: Sequence[str], clean: Redactor) -> str:
    """One disagreement: who said what, and snippets of the trace."""
    rows = [
        [esc(who), esc(row[f"{who}: verdict"]),
         "".join(f"<span class='tag'>{esc(m)}</span>" for m in row[f"{who}: failure_modes"]),
         esc(clean(row[f"{who}: note"] or ""))]
        for who in people
        if row[f"{who}: verdict"] is not None
    ]  # fmt: skip
    texts = "".join(
        f"<div class='muted'>{name}</div>"
        f"<div class='snippet'>{esc(_snippet(row[name], clean))}</div>"
        for name in ("input", "output")
    )
    heading = f"{row['trace_id']} · differ on {', '.join(row['differ_on'])}"
    labels = table(["Who", "Verdict", "Failure modes", "Note"], rows)
    return f"<div class='case'><h3>{esc(heading)}</h3>{labels}{texts}</div>"


def _snippet(text: Any, clean: Redactor) -> str:
    words = clean(" ".join(str(text or "").split()))
    return words if len(words) <= SNIPPET_CHARS else words[: SNIPPET_CHARS - 1] + "…"


def _evals_section(ws: Workspace, before: Snapshot | None, results: Any) -> str:
    evals, problem = read_suite(ws.evals_dir / "suite.yaml")
    warning = paragraph(problem, "muted") if problem else ""
    if not evals:
        return section("Evals", warning + paragraph("No eval in the suite yet."))
    known = set(before.get("evals", [])) if before else set()
    rates = pass_rates(results)
    rows = [
        [esc(e.id), esc(e.kind), esc(e.failure_mode), esc(e.date),
         "new" if before and e.id not in known else "", esc(rates.get(e.id, ""))]
        for e in evals
    ]  # fmt: skip
    headers = ["Eval", "Kind", "Failure mode", "Created", "Since last", "Pass rate"]
    return section("Evals", warning + table(headers, rows, numeric=(5,)))


def _session_section(ws: Workspace) -> str:
    try:
        session = open_review_session(ws)
    except KeyError:
        return ""
    rows = [
        [esc(r.annotator), esc(r.assigned), esc(r.reviewed), esc(r.remaining),
         esc(fmt(r.done, "{:.0%}"))]
        for r in session.progress().itertuples()
    ]  # fmt: skip
    intro = paragraph(f"{len(session.shared)} of its traces are reviewed by everyone.")
    headers = ["Who", "Assigned", "Reviewed", "Remaining", "Done"]
    body = intro + table(headers, rows, numeric=(1, 2, 3, 4))
    return section(f"Review session {session.name}", body)


def _version() -> str:
    from workbench import __version__

    return __version__
