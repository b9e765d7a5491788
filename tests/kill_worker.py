"""The child side of the kill loop: a fork server, and the jobs its children run.

A fresh Python that imports the workbench and litellm takes about 3 s on a small machine,
and its first LLM call another 0.7 s of imports; 200 kill iterations cannot afford that. So
this module, run as a script, is a fork server (:mod:`forked_children`) whose children run
the jobs below. A child opens its own workspace and LLM settings after the fork, says
``ready`` and works until it is killed (or, for the last two, until done). Each report is
one JSON line written *after* the call it reports has returned, so the parent may hold the
store to every line it reads. The jobs (the first three are the workloads that get killed):

``tag``
    annotation events (label, note, tag, untag, define, undo), one ``event`` report each.
``accept``
    validated evals written into the suite (``ws.suite.add``, as the eval builder's accept
    does), new ids and replacements, one ``eval`` report each.
``run``
    suite runs (two judges against the fault server, plus the accepted assertions) over
    random traces; a ``plan`` report before each run and a ``run`` report after it returns.
``resume``
    the run of a killed child's last plan, once, in a fresh process; a ``resumed`` report.
``measure``
    the evals the accept workload writes, measured on dev once; a ``measured`` report.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from forked_children import Say, serve

from workbench import llm
from workbench.evalgen import Candidate, Metrics, Provenance, label_set, measure
from workbench.workspace import Workspace, open_workspace

MODE = "ignored_question"
"""The failure mode the seeded labels and the accepted evals are about."""
TRACE_COUNT = 240
"""Traces in the workspace: t000 ... t239, whose input says ``question <i>``."""
TAGGED = range(0, 60)
"""Traces the tagging workload labels (kept apart from the seeded labels)."""
SEEDED = range(60, 120)
"""Traces labelled once at set-up for :data:`MODE`, so evals can be measured on them."""
JUDGES = ("kj-alpha", "kj-beta")
"""The suite's two judges, added at set-up and run by the run workload."""
ACCEPT_SLOTS = 12
"""Eval ids the accept workload writes (``acc-00`` ...): even ones assertions, odd judges."""
RUN_CHUNK = 6
"""Traces per suite run."""
JUDGE_MODEL = "openai/fault-model"
"""The model named in the judge files (runs override it with a fresh name each)."""
LLM_SETTINGS: dict[str, Any] = {
    "timeout": 5.0,
    "max_attempts": 6,
    "backoff_base_s": 0.01,
    "max_wait_s": 0.05,
    "max_concurrency": 8,
}
"""LLM door settings of every child (the parent itself never calls the server)."""
CANONICAL = ("trace_id", "input", "output", "messages", "metadata", "timestamp")
"""The trace columns a run sees (the stored trace, without the current labels)."""

_WARM = (
    "workbench.suite",
    "tqdm.auto",
    "pyarrow.pandas_compat",
    "psycopg",
    "sqlalchemy.dialects.postgresql.psycopg",
    "openai.resources",
    "litellm.proxy._types",
    "litellm._service_logger",
)
"""Modules a child would import on first use (the suite, a PostgreSQL driver, litellm's
first call); imported by the fork server, so no child spends time on them."""


# Set-up shared with the parent --------------------------------------------------------------


def make_traces(count: int = TRACE_COUNT) -> pd.DataFrame:
    """Traces ``t000`` ... whose input says ``question <i>``, so a request names its trace."""
    return pd.DataFrame(
        {
            "trace_id": [f"t{i:03d}" for i in range(count)],
            "input": [f"question {i}: where is my parcel?" for i in range(count)],
            "output": [
                f"answer {i}: " + ("we sell shoes" if i % 3 == 0 else "it left today")
                for i in range(count)
            ],
            "messages": [None] * count,
            "metadata": [{"shop": i % 4} for i in range(count)],
            "timestamp": pd.Timestamp("2026-11-20", tz="UTC"),
        }
    )


def judge(eval_id: str, wording: int = 0) -> Candidate:
    """A judge for :data:`MODE`; its prompt names the eval, so requests can be told apart."""
    ask = ("ignored the question", "answered something else than was asked")[wording % 2]
    prompt = (
        f"[eval {eval_id}] Decide whether the assistant {ask}.\n\n$trace\n\n"
        "Reason first, then end with one line: VERDICT: PASS or VERDICT: FAIL.\n"
    )
    spec = {"type": "judge", "prompt": prompt, "model": JUDGE_MODEL, "params": {"temperature": 0}}
    return Candidate(eval_id, "judge", spec, "", _provenance("llm:" + JUDGE_MODEL))


def _provenance(generator: str, ids: tuple[str, ...] = ()) -> Provenance:
    return Provenance(MODE, generator, "2026-11-20T10:00:00Z", ids, ("seed",), 0)


def prepare(ws: Workspace) -> None:
    """Fill a fresh workspace: traces, seeded labels of :data:`MODE`, the two judges."""
    ws.add_traces(make_traces())
    ws.define(MODE, "The reply is about something else than the question.", annotator="seed")
    for i in SEEDED:
        failing = i % 3 == 0
        ws.label(f"t{i:03d}", "fail" if failing else "pass", annotator="seed")
        if failing:
            ws.tag(f"t{i:03d}", MODE, annotator="seed")
    for eval_id in JUDGES:
        ws.suite.add(judge(eval_id))


def run_frame(ws: Workspace, ids: list[str]) -> pd.DataFrame:
    """The stored traces ``ids`` as a run sees them; the same frame in child and parent."""
    view = ws.traces()
    chosen = view[view["trace_id"].isin(ids)].sort_values("trace_id")
    return chosen[list(CANONICAL)].reset_index(drop=True)


def configure_llm(api_base: str, cache_dir: str) -> None:
    """Point the LLM door at the fault server, with the shared LLM cache."""
    llm.configure(model=JUDGE_MODEL, api_base=api_base, cache_dir=cache_dir, **LLM_SETTINGS)


# The workloads --------------------------------------------------------------------------


def tag_forever(ws: Workspace, rng: random.Random, job: dict[str, Any], say: Say) -> None:
    """Append annotation events until killed; report each after it returned."""
    who = f"k{job['iteration']:03d}"
    say(kind="ready")
    while True:
        trace = f"t{rng.choice(TAGGED):03d}"
        mode = f"mode_{rng.randrange(4)}"
        action = rng.choice(("label", "label", "note", "tag", "tag", "untag", "define", "undo"))
        say(kind="begin", action=action)
        if action == "label":
            verdict = rng.choice(("pass", "fail", None))
            event = ws.label(trace, verdict, note=f"seen by {who}", annotator=who)
        elif action == "note":
            event = ws.note(trace, f"note {rng.randrange(1000)} by {who}", annotator=who)
        elif action == "tag":
            event = ws.tag(trace, mode, annotator=who)
        elif action == "untag":
            event = ws.untag(trace, mode, annotator=who)
        elif action == "define":
            event = ws.define(mode, f"defined by {who}", annotator=who)
        else:
            found = ws.undo(who)
            if found is None:
                say(kind="none", action=action)
                continue
            event = found
        say(kind="event", id=event.id, event=event.kind, trace=event.trace_id, who=who,
            payload=event.payload)  # fmt: skip


def measured_templates(ws: Workspace) -> dict[str, Any]:
    """The evals the accept workload writes, measured on dev once, as JSON for the jobs.

    A person validates a candidate once and may accept it many times (after edits, with
    more labels); the children only accept, so each starts at once.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few labels: measured anyway, as a person might
        labels = label_set(ws, MODE)
        measured = [(c, measure(c, labels, "dev", warn=False)) for c in _templates()]
    return {
        "labelled": [str(i) for i in labels.failing.index],
        "templates": [
            {"kind": c.kind, "spec": c.spec, "dev": [m.tp, m.fp, m.tn, m.fn, m.ungraded]}
            for c, m in measured
        ],
    }


def _templates() -> list[Candidate]:
    typed = (
        {"type": "contains", "field": "output", "value": "shoes", "negate": True},
        {"type": "max_length", "field": "output", "value": 30},
        {"type": "regex", "field": "output", "value": r"left|parcel"},
    )
    made = [Candidate("tpl", "assertion", dict(s), "", _provenance("mined:kill")) for s in typed]
    return [*made, judge("tpl", 0), judge("tpl", 1)]


def accept_forever(ws: Workspace, rng: random.Random, job: dict[str, Any], say: Say) -> None:
    """Write validated evals into the suite until killed; report each after it returned."""
    ids = tuple(job["labelled"])
    known = {e.id for e in ws.suite}
    _watch_writes(say)
    say(kind="ready")
    while True:
        slot = rng.randrange(ACCEPT_SLOTS)
        kind = "assertion" if slot % 2 == 0 else "judge"
        template = rng.choice([t for t in job["templates"] if t["kind"] == kind])
        count = rng.choice((10, 30, 45, len(ids)))  # labels grow between acceptances
        generator = "mined:kill" if kind == "assertion" else f"llm:{JUDGE_MODEL}"
        candidate = Candidate(
            id=f"acc-{slot:02d}",
            kind=kind,
            spec=template["spec"],
            rationale="",
            provenance=_provenance(generator, ids[:count]),
            metrics={"dev": Metrics("dev", *template["dev"])},
        )
        threshold = rng.choice((0.8, 0.9, 0.95))
        replace = candidate.id in known
        say(kind="begin", id=candidate.id, replace=replace)
        saved = ws.suite.add(candidate, threshold=threshold, replace=replace)
        known.add(candidate.id)
        say(kind="eval", id=saved.id, version=saved.version, threshold=saved.threshold,
            labelled=len(saved.candidate.provenance.labelled_trace_ids))  # fmt: skip


def run_forever(ws: Workspace, rng: random.Random, job: dict[str, Any], say: Say) -> None:
    """Run the suite on random traces, run after run, until killed."""
    pool = [f"t{i:03d}" for i in range(TRACE_COUNT)]
    evals = ws.suite.load().evals
    chosen = [e.id for e in evals if e.id in JUDGES or e.kind == "assertion"]
    for number in range(1_000_000):
        ids = sorted(rng.sample(pool, RUN_CHUNK))
        model = f"openai/fault-{job['iteration']:03d}-{number}"
        repeats = rng.choice((1, 1, 2))
        say(kind="plan", run=number, ids=ids, model=model, repeats=repeats, evals=chosen)
        if number == 0:
            say(kind="ready")
        results = ws.suite.run(
            run_frame(ws, ids), evals=chosen, repeats=repeats, model=model, progress=False
        )
        say(kind="run", run=number, rows=len(results), failed=failed_calls(results))


def failed_calls(results: pd.DataFrame) -> list[list[Any]]:
    """``[trace id, eval, repeat]`` of the judge calls of a run that failed (not stored)."""
    failed = results[results["reason"].str.startswith("the LLM call failed")]
    repeats = failed["repeat"] if "repeat" in failed else pd.Series(0, index=failed.index)
    rows = zip(failed["trace_id"], failed["eval"], repeats, strict=True)
    return [[str(t), str(e), int(r)] for t, e, r in rows]


def resume(ws: Workspace, rng: random.Random, job: dict[str, Any], say: Say) -> None:
    """Run a killed run again, as a person restarting after the crash would; then exit."""
    plan = job["plan"]
    results = ws.suite.run(
        run_frame(ws, plan["ids"]), evals=plan["evals"], repeats=plan["repeats"],
        model=plan["model"], progress=False,
    )  # fmt: skip
    cached = int(results.loc[results["kind"] == "judge", "cached"].sum())
    say(kind="resumed", cached=cached, failed=failed_calls(results))


def _watch_writes(say: Say) -> None:
    """Report each file write of the suite as it starts and ends: progress, not results.

    So the parent can tell how many kills landed inside a write, or between two writes of
    one acceptance (the windows that atomic writes and their order must make safe).
    """
    from workbench.suite import format as suite_format
    from workbench.suite import suite as suite_module

    write = suite_format.atomic_write_bytes

    def watched(path: Path, data: bytes) -> None:
        say(kind="writing", file=path.name)
        write(path, data)
        say(kind="written", file=path.name)

    suite_format.atomic_write_bytes = watched  # atomic_write_text calls it through here
    if hasattr(suite_module, "atomic_write_bytes"):
        suite_module.atomic_write_bytes = watched


def measure_once(ws: Workspace, rng: random.Random, job: dict[str, Any], say: Say) -> None:
    """Measure the accept workload's evals (judges ask the fault server); then exit."""
    say(kind="measured", **measured_templates(ws))


WORKLOADS: dict[str, Callable[[Workspace, random.Random, dict[str, Any], Say], None]] = {
    "tag": tag_forever,
    "accept": accept_forever,
    "run": run_forever,
    "resume": resume,
    "measure": measure_once,
}
"""The jobs by name."""


# The fork server ----------------------------------------------------------------------------


def child_main(job: dict[str, Any], say: Say) -> None:
    """Run one job in a freshly forked child: its own LLM settings and workspace first."""
    configure_llm(job["api_base"], job["llm_cache"])
    ws = open_workspace(job["path"], db=job["db"])
    WORKLOADS[job["op"]](ws, random.Random(job["seed"]), job, say)


if __name__ == "__main__":
    serve(child_main, (*_WARM, "litellm"))
