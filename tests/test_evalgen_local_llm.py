"""A judge candidate end to end through litellm and the real local server (Gemma 3 270M).

Start the server with `bash scripts/local-llm.sh`. A 270M model is no judge, so these tests
assert structure (metrics come out, every trace is graded or ungraded with a reason, the
prompt survives being saved), never the quality of its verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import llm_fixtures
import pytest
from evalgen_fixtures import labelled_workspace, subset

from workbench import llm
from workbench.evalgen import Provenance, judges, propose_evals, validate
from workbench.evalgen.propose import label_set
from workbench.workspace import Workspace

pytestmark = pytest.mark.llm
isolated_llm = llm_fixtures.isolated_llm  # bound here so pytest finds it (no conftest for it)

API_BASE = llm_fixtures.LOCAL_API_BASE
MODEL = llm_fixtures.LOCAL_MODEL


@pytest.fixture
def local(isolated_llm: Path) -> Iterator[Path]:
    llm_fixtures.require_local_server()
    llm.configure(model=MODEL, api_base=API_BASE, timeout=120.0, backoff_base_s=0.2)
    yield isolated_llm


@pytest.fixture
def small_ws(tmp_path: Path) -> Iterator[Workspace]:
    # 6 failing and 6 clean: train 2 + 2 (one of each shown to the judge), dev 2 + 2, test 2 + 2
    ws = labelled_workspace(tmp_path / "ws", subset("dismissive_tone", 6, 6))
    ws.define(
        "dismissive_tone",
        "The reply is curt or condescending: it blames the customer for asking, "
        "drops the apology, or tells them to read the FAQ next time.",
        annotator="truth",
    )
    yield ws
    ws.close()


def test_a_judge_runs_end_to_end_on_the_local_model(
    local: Path, small_ws: Workspace, tmp_path: Path
) -> None:
    with pytest.warns(UserWarning, match="'dismissive_tone' in"):  # few labels, by design
        candidates = propose_evals(
            small_ws,
            "dismissive_tone",
            kinds=("judge",),
            shots=1,
            max_trace_chars=800,
            max_tokens=64,
        )
    (judge,) = candidates
    labels = label_set(small_ws, "dismissive_tone")
    assert judge.kind == "judge" and judge.spec["model"] == MODEL
    train, dev = judge.metrics["train"], judge.metrics["dev"]
    assert train.n + train.ungraded == len(labels.split.train) - 2
    assert dev.n + dev.ungraded == len(labels.split.dev)
    for rate in (dev.tpr, dev.tnr):
        assert rate != rate or 0.0 <= rate <= 1.0  # NaN only when nothing was graded

    saved = tmp_path / "judge.md"
    saved.write_text(judges.to_markdown(judge), encoding="utf-8")
    spec = judges.from_markdown(saved.read_text(encoding="utf-8"))
    assert spec["prompt"] == judge.spec["prompt"] and spec["model"] == MODEL
    assert "$trace" in spec["prompt"] and "[BEGIN DATA]" in spec["prompt"]

    with pytest.warns(UserWarning, match="'dismissive_tone' in test"):
        tested = validate(judge, small_ws, split="test", max_tokens=64)
    assert tested.metrics["test"].n + tested.metrics["test"].ungraded == len(labels.split.test)


def test_verdicts_or_reasons_for_every_trace(local: Path, small_ws: Workspace) -> None:
    labels = label_set(small_ws, "dismissive_tone")
    judge = judges.build_judge(
        labels,
        "Curt or condescending replies.",
        model=MODEL,
        provenance=Provenance("dismissive_tone", "", ""),
        shots=1,
        max_trace_chars=800,
        params={"max_tokens": 64},
    )
    grades = judges.grade(judge.spec, labels.records("dev")[:2])
    assert len(grades) == 2
    for grade in grades:
        assert grade.passed in (True, False) or grade.reason  # ungraded always says why
        assert isinstance(grade.raw, str)
    assert llm.usage().calls >= len(grades)
