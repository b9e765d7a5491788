"""The names a notebook user types: all reachable, all what they claim to be, import stays light."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import workbench as wb

MODULES = {"llm", "suite"}


def test_every_public_name_resolves() -> None:
    for name in wb.__all__:
        assert getattr(wb, name) is not None, name


def test_functions_stay_functions_after_their_modules_are_imported() -> None:
    """Regression: importing workbench.cluster replaced wb.cluster with the module."""
    for info in pkgutil.walk_packages(wb.__path__, "workbench."):
        importlib.import_module(info.name)
    for name in wb.__all__:
        value = getattr(wb, name)
        if name in MODULES:
            assert isinstance(value, types.ModuleType), name
        elif name != "__version__":
            assert not isinstance(value, types.ModuleType), name


def test_importing_the_workbench_loads_no_heavy_library() -> None:
    code = (
        "import sys, workbench as wb\n"
        "heavy = {'torch', 'litellm', 'umap', 'sentence_transformers', 'sklearn', 'plotly'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
