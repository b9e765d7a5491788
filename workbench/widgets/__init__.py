"""Notebook widgets: thin views over plain state, each also reachable from the Python API.

Names are imported on first use, so importing one widget does not load the others. (The
map's function is ``workbench.cluster_map``: here that name is the module defining it.)

Examples:
    >>> from workbench.widgets import ClusterMap
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.widgets.cluster_map import ClusterMap

_LAZY: dict[str, str] = {
    "ClusterMap": "workbench.widgets.cluster_map",
}
"""Public name -> the module that defines it."""

__all__ = ["ClusterMap"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench.widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
