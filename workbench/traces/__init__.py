"""Load traces from the files teams have into one canonical table."""

from workbench.traces.errors import TraceLoadError, TraceLoadWarning
from workbench.traces.load import load_traces
from workbench.traces.schema import CANONICAL_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS

__all__ = [
    "CANONICAL_COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "TraceLoadError",
    "TraceLoadWarning",
    "load_traces",
]
