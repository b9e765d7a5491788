"""The workbench: error analysis of LLM applications, in a notebook.

Load traces, see how the app fails, tag failures, and turn each failure mode into
an eval validated against human labels.

Examples:
    >>> import workbench as wb
    >>> traces = wb.load_traces("sample_data/traces.jsonl")
"""

from __future__ import annotations

from workbench.traces import TraceLoadError, TraceLoadWarning, load_traces

__version__ = "0.1.0"

__all__ = [
    "TraceLoadError",
    "TraceLoadWarning",
    "__version__",
    "load_traces",
]
