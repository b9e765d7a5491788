"""Load traces from the files teams have into one canonical table."""

from workbench.traces.errors import TraceLoadError, TraceLoadWarning
from workbench.traces.load import load_traces, skipped
from workbench.traces.overview import overview
from workbench.traces.schema import CANONICAL_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from workbench.traces.show import show_trace

__all__ = [
    "CANONICAL_COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "TraceLoadError",
    "TraceLoadWarning",
    "load_traces",
    "overview",
    "show_trace",
    "skipped",
]
