"""Week over week: what changed between two periods of traces, and is it real.

:func:`compare_periods` puts last period beside this one, four ways:

- ``structure``: skew in what the app received and produced (lengths, JSON, languages, tool
  calls, turns, latency, cost, tokens, models, metadata such as the prompt version);
- ``clusters``: semantic drift, on one clustering of both periods together;
- ``failure_modes``: failure rates with intervals, from human labels and from the evals;
- ``taxonomy``: failure modes that are new, gone, renamed, merged or split.

Every change comes with its test; ``summary()`` lists the ones that matter, ``plot()``
draws rates and shares, and a notebook shows it all as HTML. :func:`split_periods` and
:func:`last_and_this` cut a trace table into weeks, days, or the values of a column.

Examples:
    >>> import workbench as wb
    >>> from workbench.compare import compare_periods, last_and_this
    >>> last, this = last_and_this(wb.load_traces("sample_data/traces.jsonl"))
    >>> comparison = compare_periods(last, this, semantic=False)
    >>> comparison.summary()["item"].iloc[0]
    'prompt_version: v13'
"""

from __future__ import annotations

from workbench.compare.comparison import compare_periods
from workbench.compare.periods import PeriodWarning, last_and_this, split_periods
from workbench.compare.result import PeriodComparison

__all__ = ["PeriodComparison", "PeriodWarning", "compare_periods", "last_and_this", "split_periods"]
