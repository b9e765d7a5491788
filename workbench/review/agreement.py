"""Agreement between people: Cohen's kappa per pair, Krippendorff's alpha across everyone.

Before a judge is trusted to apply a failure mode, the people who defined it should agree
on it. :func:`agreement` measures that on the traces two or more people reviewed, for the
verdict and for each failure mode (present or absent), with the figures of
:func:`sklearn.metrics.cohen_kappa_score` and :func:`krippendorff.alpha` (nominal).

The ``band`` column puts Krippendorff's alpha in the words of Landis and Koch. Alpha, not
the mean kappa, because it takes everyone at once and copes with people who reviewed
different traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Any, Final

import krippendorff
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from workbench.review.labels import (
    check_traces,
    choose_annotators,
    choose_items,
    describe,
    ratings,
    snapshot,
)

if TYPE_CHECKING:
    from workbench.workspace import Workspace

BANDS: Final[tuple[tuple[float, str], ...]] = (
    (0.2, "slight"),
    (0.4, "fair"),
    (0.6, "moderate"),
    (0.8, "substantial"),
    (1.0, "almost perfect"),
)
"""Landis and Koch's bands as (upper bound, name), from 0 up; below 0 is "poor". A bound
belongs to its band: 0.20 is "slight", 0.21 "fair"."""

AGREEMENT_COLUMNS: Final = (
    "kappa_pairs",
    "kappa_mean",
    "alpha",
    "raw_agreement",
    "n_overlap",
    "n_annotators",
    "band",
    "note",
)
"""Columns of :func:`agreement` (its index is ``item``)."""


def band(value: float) -> str:
    """Return the Landis and Koch band of an agreement coefficient, or ``"undefined"`` for NaN.

    Examples:
        >>> band(-0.1), band(0.2), band(0.21), band(0.61), band(0.95)
        ('poor', 'slight', 'fair', 'substantial', 'almost perfect')
    """
    if np.isnan(value):
        return "undefined"
    if value < 0:
        return "poor"
    return next((name for upper, name in BANDS if value <= upper), BANDS[-1][1])


def agreement(
    ws: Workspace,
    annotators: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    traces: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Measure how far people agree, item by item, on the traces they reviewed in common.

    Args:
        ws: the workspace.
        annotators: whom to compare (default: everyone with a verdict on some trace).
        items: ``"verdict"`` and/or failure mode names (default: the verdict and every mode).
        traces: only these traces, e.g. a review session's ``shared`` ids (default: all).

    Returns:
        One row per item (index ``item``) with the columns of :data:`AGREEMENT_COLUMNS`:
        ``kappa_pairs`` ({(a, b): Cohen's kappa} for each pair, NaN where undefined),
        ``kappa_mean`` (their mean), ``alpha`` (Krippendorff's, nominal), ``raw_agreement``
        (of all pairs of people rating the same trace, the share that gave the same answer),
        ``n_overlap`` (traces reviewed by two or more of them), ``n_annotators``, ``band``
        (of ``alpha``) and ``note`` (why a figure is missing, else empty).

    Raises:
        KeyError: naming an annotator who reviewed nothing, or an unknown item.

    Examples:
        >>> import workbench as wb
        >>> wb.agreement(ws)[["alpha", "raw_agreement", "n_overlap", "band"]]  # doctest: +SKIP
                          alpha  raw_agreement  n_overlap      band
        item
        verdict            0.78           0.90         40  substantial
        invented_policy    0.52           0.85         40  moderate
    """
    state = snapshot(ws)
    return agreement_from_labels(
        state.labels, list(state.modes), annotators=annotators, items=items, traces=traces
    )


def agreement_from_labels(
    labels: pd.DataFrame,
    modes: Sequence[str],
    annotators: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    traces: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Compute :func:`agreement` from a labels table (as ``ws.labels()`` returns it).

    Args:
        labels: one row per (trace, annotator) with ``verdict`` and ``failure_modes``.
        modes: the failure modes that are items (when ``items`` is None).
        annotators: see :func:`agreement`.
        items: see :func:`agreement`.
        traces: see :func:`agreement`.

    Examples:
        >>> labels = pd.DataFrame({"trace_id": ["t0", "t0"], "annotator": ["ana", "bob"],
        ...     "verdict": ["fail", "fail"], "failure_modes": [["x"], []]})
        >>> table = agreement_from_labels(labels, ["x"])
        >>> table.loc["verdict", "band"], float(table.loc["x", "raw_agreement"])
        ('undefined', 0.0)
    """
    people = choose_annotators(labels, annotators)
    chosen = check_traces(traces)
    rows = [
        _item_row(item, ratings(labels, item, people, chosen))
        for item in choose_items(modes, items)
    ]
    index = pd.Index([r.pop("item") for r in rows], name="item", dtype="object")
    return pd.DataFrame(rows, index=index, columns=list(AGREEMENT_COLUMNS))


def _item_row(item: str, matrix: pd.DataFrame) -> dict[str, Any]:
    """Every figure of one item, from its annotators x traces ratings matrix."""
    people = list(matrix.index)
    shared = matrix.loc[:, matrix.notna().sum(axis=0) >= 2]
    pairs = {
        pair: _kappa(matrix.loc[pair[0]], matrix.loc[pair[1]]) for pair in combinations(people, 2)
    }
    kappas = [k for k in pairs.values() if not np.isnan(k)]
    alpha = _alpha(shared)
    return {
        "item": item,
        "kappa_pairs": pairs,
        "kappa_mean": float(np.mean(kappas)) if kappas else float("nan"),
        "alpha": alpha,
        "raw_agreement": raw_agreement(shared),
        "n_overlap": int(shared.shape[1]),
        "n_annotators": len(people),
        "band": band(alpha),
        "note": _note(item, people, shared, pairs),
    }


def _kappa(first: pd.Series[float], second: pd.Series[float]) -> float:
    """Cohen's kappa of two people on the traces both rated; NaN with fewer than two classes."""
    both = first.notna() & second.notna()
    a, b = first[both].to_numpy(), second[both].to_numpy()
    if len(np.union1d(a, b)) < 2:
        return float("nan")
    return float(cohen_kappa_score(a, b))


def _alpha(shared: pd.DataFrame) -> float:
    """Krippendorff's alpha (nominal) of the traces rated twice or more; NaN if undefined."""
    values = shared.to_numpy(dtype="float64")
    if len(np.unique(values[~np.isnan(values)])) < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=values, level_of_measurement="nominal"))


def raw_agreement(shared: pd.DataFrame) -> float:
    """Return, over all pairs of people rating the same trace, the share that agree.

    Examples:
        >>> raw_agreement(pd.DataFrame({"t0": [1.0, 1.0, 0.0]}))  # 1 of 3 pairs agree
        0.3333333333333333
    """
    agreeing = total = 0
    for column in shared.columns:
        counts = shared[column].value_counts().to_numpy()
        agreeing += int((counts * (counts - 1)).sum() // 2)
        rated = int(counts.sum())
        total += rated * (rated - 1) // 2
    return agreeing / total if total else float("nan")


def _note(
    item: str, people: list[str], shared: pd.DataFrame, pairs: dict[tuple[str, str], float]
) -> str:
    """Explain, in a sentence or two, why figures of an item are missing (empty when none)."""
    if not people:
        return "nobody has reviewed a trace yet"
    if len(people) < 2:
        return f"only one annotator ({people[0]}): agreement needs two or more people"
    if shared.shape[1] == 0:
        return f"no trace was reviewed by two or more of {', '.join(people)}"
    seen = np.unique(shared.to_numpy(dtype="float64"))
    seen = seen[~np.isnan(seen)]
    notes = []
    if len(seen) == 1:
        notes.append(
            f"everyone said {describe(item, float(seen[0]))!r} on all {shared.shape[1]} shared "
            "traces: kappa and alpha are undefined with one class (raw agreement still holds)"
        )
    else:
        undefined = [f"{a}/{b}" for (a, b), k in pairs.items() if np.isnan(k)]
        if undefined:
            notes.append(
                f"kappa undefined (no shared traces, or one class) for {', '.join(undefined)}"
            )
    return "; ".join(notes)
