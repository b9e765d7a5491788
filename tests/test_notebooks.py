"""The template notebooks run top to bottom on the sample data, as a user would run them."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

LOCAL_MODEL = "openai/gemma3-270m"
LLM_NOTEBOOKS: dict[str, dict[str, object]] = {
    "01_weekly_error_analysis.ipynb": {},
    "03_eval_suite.ipynb": {
        "LLM_MODES": ["invented_policy"],
        "JUDGE_SAMPLE": 2,
        "LLM_OPTIONS": {"max_tokens": 200},
    },
}
"""Notebooks whose LLM steps run against the local server when it is up (LLM_API_BASE),
with the parameters that keep a 270M model on 2 cores within minutes: the eval-suite
notebook drafts a check and measures a judge for one failure mode, on 2 labels per split
(so below MIN_LABELS: nothing it makes is accepted, and the suite runs without judges),
with answers cut at 200 tokens (the small model otherwise rambles to 1,024 on every call)."""

pytestmark = pytest.mark.slow


def with_parameters(notebook: nbformat.NotebookNode, values: dict[str, object]) -> None:
    """Insert a cell after the one tagged ``parameters`` that overrides its values."""
    for index, cell in enumerate(notebook.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
            notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
            return
    raise AssertionError("the notebook has no cell tagged 'parameters'")


def test_there_are_template_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS][:1] == ["01_weekly_error_analysis.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_sample_data(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs; strip them"
    )
    values: dict[str, object] = {"WORKSPACE": str(tmp_path / "analysis")}
    api_base = os.environ.get("LLM_API_BASE")
    if api_base and path.name in LLM_NOTEBOOKS:
        values.update(MODEL=LOCAL_MODEL, API_BASE=api_base, **LLM_NOTEBOOKS[path.name])
    with_parameters(notebook, values)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
