"""The done-when measurement: mined assertions against the sample's seeded failure modes.

A workspace is labelled from ``sample_data/ground_truth.csv`` as if people had reviewed every
trace (pass/fail) and tagged each failing one with its modes. For each code-checkable mode,
the best mined assertion must reach TPR >= 0.9 and TNR >= 0.95 on the held-out test split.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import llm_fixtures
import pytest
from evalgen_fixtures import CODE_MODES, JUDGE_MODES, labelled_workspace

from workbench.evalgen import LowLabelCountWarning, propose_evals, validate
from workbench.workspace import Workspace

isolated_llm = llm_fixtures.isolated_llm  # no model configured: assertions are mined only
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_llm")]


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = labelled_workspace(tmp_path_factory.mktemp("sample"))
    yield ws
    ws.close()


def test_every_trace_is_labelled(sample_ws: Workspace) -> None:
    modes = sample_ws.failure_modes().set_index("name")["count"].to_dict()
    assert set(modes) == set(CODE_MODES) | set(JUDGE_MODES)
    assert modes["overlong_reply"] == 51 and modes["leaked_internal_id"] == 37
    assert sample_ws.traces()["verdict"].notna().all()


@pytest.mark.parametrize("mode", CODE_MODES)
def test_code_checkable_modes_are_caught_on_test(sample_ws: Workspace, mode: str) -> None:
    candidates = propose_evals(sample_ws, mode, kinds=("assertion",))
    best = validate(candidates[0], sample_ws, split="test")
    test = best.metrics["test"]
    assert test.tpr >= 0.9, f"{mode}: {best.id} {best.spec} caught {test.tp} of {test.tp + test.fn}"
    assert test.tnr >= 0.95, f"{mode}: {best.id} {best.spec} flagged {test.fp} clean traces"
    assert test.ungraded == 0
    assert best.spec["type"] != "python" and best.kind == "assertion"


def test_judge_only_modes_still_get_measured_candidates(sample_ws: Workspace) -> None:
    # Mined assertions are weak here (a judge is needed); only the structure is asserted.
    with pytest.warns(LowLabelCountWarning, match="'dismissive_tone' in dev"):
        candidates = propose_evals(sample_ws, "dismissive_tone", kinds=("assertion",))
    assert candidates and all(set(c.metrics) == {"train", "dev"} for c in candidates)


def test_split_is_recorded_in_the_provenance(sample_ws: Workspace, repo: Path) -> None:
    (best, *_) = propose_evals(sample_ws, "overlong_reply", kinds=("assertion",))
    assert best.provenance.split_seed == 0
    assert len(best.provenance.labelled_trace_ids) == 1200
    assert best.provenance.annotators == ("truth",)
    assert best.provenance.created_at.endswith("+00:00")
