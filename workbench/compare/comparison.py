"""``compare_periods``: last week against this week, in one call."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.compare.drift import CLUSTER_COLUMNS, cluster_drift
from workbench.compare.periods import check_periods, period_name
from workbench.compare.rates import empty_rates, eval_info, label_rates, suite_rates
from workbench.compare.result import PeriodComparison
from workbench.compare.structure import structure_table
from workbench.compare.taxonomy import TAXONOMY_COLUMNS, taxonomy_diff
from workbench.views import DEFAULT_VIEW, View

if TYPE_CHECKING:
    from workbench.embed import Embedder, EmbeddingStore
    from workbench.suite import Suite
    from workbench.workspace import Workspace

__all__ = ["compare_periods"]

_TRACE_COLUMNS = ["trace_id", "period", "cluster", "x", "y", "is_noise"]


def compare_periods(
    last_week: pd.DataFrame,
    this_week: pd.DataFrame,
    workspace: Workspace | None = None,
    suite_results: pd.DataFrame | None = None,
    embedder: Embedder | None = None,
    random_state: int = 0,
    *,
    suite: Suite | Mapping[str, str] | None = None,
    text: View = DEFAULT_VIEW,
    semantic: bool = True,
    min_cluster_size: int | None = None,
    alpha: float = 0.05,
    screen_alpha: float = 0.01,
    cache: EmbeddingStore | None = None,
    show_progress: bool = True,
) -> PeriodComparison:
    """Compare two periods of traces: structure, clusters, failure modes and taxonomy.

    Args:
        last_week: the earlier period's traces (any period: :func:`split_periods`).
        this_week: the later period's traces; no trace may be in both.
        workspace: where the human labels are (``ws.traces()``, ``ws.history()``) and whose
            embedding cache is used. Without it, no label rates and no taxonomy.
        suite_results: the suite run on both periods' traces (``ws.suite.run``): one table,
            rows assigned to a period by ``trace_id``.
        embedder: for the clusters; default all-MiniLM-L6-v2.
        random_state: seed of the clustering's reducers.
        suite: which failure mode each eval checks, and its alignment with the labels: a
            :class:`workbench.suite.Suite` or ``{eval_id: failure_mode}``. Default the
            workspace's suite; else the ``failure_mode`` column of ``suite_results``.
        text: the view embedded for the clusters (see :mod:`workbench.views`).
        semantic: False skips embedding and clustering (``clusters`` is then empty).
        min_cluster_size: for the clusterer; default grows with the number of traces.
        alpha: significance level of failure-mode rate changes.
        screen_alpha: significance level of structure flags and cluster statuses (they test
            dozens of rows, so a stricter level keeps false alarms rare).
        cache: where embeddings are kept (default: the workspace's, else the local cache).
        show_progress: progress bars while embedding.

    Returns:
        A :class:`PeriodComparison`.

    Raises:
        ValueError: a period is empty (the message names it), repeats ids, or shares traces
            with the other; a level outside (0, 1).

    Examples:
        >>> import workbench as wb
        >>> from workbench.compare import compare_periods, last_and_this
        >>> last, this = last_and_this(wb.load_traces("sample_data/traces.jsonl"))
        >>> comparison = compare_periods(last, this, semantic=False)
        >>> comparison.periods
        ('2026-W45', '2026-W46')
        >>> row = comparison.structure.set_index("metric").loc["prompt_version: v13"]
        >>> float(row["last"]), float(row["this"]), bool(row["flag"])
        (0.0, 1.0, True)
    """
    check_periods(last_week, this_week)
    for name, level in (("alpha", alpha), ("screen_alpha", screen_alpha)):
        if not 0 < level < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {level!r}")
    ids = [frozenset(frame["trace_id"].astype(str)) for frame in (last_week, this_week)]
    periods = (period_name(last_week, "last"), period_name(this_week, "this"))
    notes: list[str] = []
    options = {"text": text, "semantic": semantic, "alpha": alpha,
               "screen_alpha": screen_alpha, "random_state": random_state}  # fmt: skip
    if semantic:
        clusters, traces = cluster_drift(
            last_week, this_week, workspace=workspace, text=text, embedder=embedder,
            cache=cache, min_cluster_size=min_cluster_size, random_state=random_state,
            alpha=screen_alpha, show_progress=show_progress,
        )  # fmt: skip
    else:
        clusters, traces = _no_clusters(last_week, this_week)
        notes.append("clusters were not computed (semantic=False)")
    labels = _labels(workspace, periods, ids, notes)
    rates = _failure_modes(labels, ids, alpha, notes)
    if suite_results is not None:
        info = eval_info(_suite_of(workspace, suite))
        evals = suite_rates(suite_results, ids[0], ids[1], info, alpha)
        rates = pd.concat([rates, evals], ignore_index=True) if len(rates) else evals
    if rates.empty:
        notes.append("no failure-mode rates: no reviewed traces and no suite results")
    if workspace is not None and labels is not None:
        taxonomy = taxonomy_diff(workspace.history(), labels, ids[0], ids[1])
    else:
        taxonomy = pd.DataFrame(columns=list(TAXONOMY_COLUMNS))
    return PeriodComparison(
        periods=periods,
        sizes=(len(last_week), len(this_week)),
        structure=structure_table(last_week, this_week, alpha=screen_alpha),
        clusters=clusters,
        failure_modes=rates,
        taxonomy=taxonomy,
        traces=traces,
        notes=tuple(notes),
        alpha=alpha,
        options=options,
    )


def _labels(
    workspace: Workspace | None,
    periods: tuple[str, str],
    ids: list[frozenset[str]],
    notes: list[str],
) -> pd.DataFrame | None:
    """Each trace's current label (``trace_id``, ``verdict``, ``failure_modes``), or None."""
    if workspace is None:
        notes.append("no workspace: no human labels, so no label rates and no taxonomy")
        return None
    view = workspace.traces()[["trace_id", "verdict", "failure_modes"]]
    view = view[view["trace_id"].isin(ids[0] | ids[1])].reset_index(drop=True)
    reviewed = view["verdict"].isin(["pass", "fail"]) | view["failure_modes"].map(
        lambda modes: bool(modes) if isinstance(modes, list | tuple) else False
    )
    for name, members in zip(periods, ids, strict=True):
        count = int(view.loc[reviewed, "trace_id"].isin(members).sum())
        notes.append(f"{name}: {count:,} of {len(members):,} traces reviewed")
    return view


def _failure_modes(
    labels: pd.DataFrame | None, ids: list[frozenset[str]], alpha: float, notes: list[str]
) -> pd.DataFrame:
    if labels is None:
        return empty_rates()
    table = label_rates(labels, ids[0], ids[1], alpha)
    if table.empty:
        notes.append("no traces of either period are reviewed: no label rates")
    return table


def _suite_of(workspace: Workspace | None, suite: Any) -> Any:
    """The suite to read evals from: the one given, else the workspace's, else None."""
    if suite is not None or workspace is None:
        return suite
    found = getattr(workspace, "suite", None)
    if found is not None:
        return found
    if (workspace.evals_dir / "suite.yaml").exists():
        from workbench.suite import Suite

        return Suite(workspace.evals_dir, workspace)
    return None


def _no_clusters(last: pd.DataFrame, this: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids: list[Collection[Any]] = [last["trace_id"].astype(str), this["trace_id"].astype(str)]
    traces = pd.DataFrame(
        {
            "trace_id": [*ids[0], *ids[1]],
            "period": ["last"] * len(ids[0]) + ["this"] * len(ids[1]),
        }
    ).reindex(columns=_TRACE_COLUMNS)
    return pd.DataFrame(columns=list(CLUSTER_COLUMNS)), traces
