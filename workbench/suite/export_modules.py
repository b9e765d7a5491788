"""Export a suite as Python: a pytest module and an Inspect AI scorer module.

Both modules hold the suite's evals as one ``EVALS`` literal (written with ``pprint``) parsed
back with :mod:`ast` before the file is written, so ids, failure modes and paths are data,
never code. They load each eval's file from the evals folder (found relative to the module)
at run time: an edited check needs no new export, but a new eval or threshold does.

- pytest: ``EVAL_TRACES=traces.jsonl pytest test_evals.py``. One test per assertion: its
  pass rate on the traces must reach its threshold, else the test fails naming the failing
  traces. Traces are read with the workbench when it is installed (any format it loads),
  else as JSON lines of trace records. Judges call an LLM, so they run only when
  ``EVAL_JUDGES=1`` and the workbench is installed (through ``Suite.run``, with its cache).
- inspect: one ``@scorer`` per eval; assertions call the eval's ``check``, judges ask
  ``get_model(model)`` with the judge prompt and read the final ``VERDICT:`` line. The judge
  rules are the workbench's own: :mod:`workbench.data_fence` is copied into the module
  (:func:`rules_source`), so disguised fence markers in a trace are defused and an answer
  that only repeats the trace is NOANSWER, as in ``Suite.run``.

Examples:
    >>> from workbench.suite import Suite
    >>> from workbench.suite.export import export
    >>> export(Suite("analysis/evals"), "pytest", "ci/test_evals.py")  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import inspect
import keyword
import os
import pprint
import re
from pathlib import Path
from typing import Any

from workbench import data_fence
from workbench.suite.loading import LoadedSuite


def _evals_literal(loaded: LoadedSuite) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "kind": e.kind,
            "file": e.file.relative_to(loaded.path).as_posix(),
            "failure_mode": e.failure_mode,
            "threshold": e.threshold,
            "version": e.version,
            "model": e.candidate.spec.get("model") if e.kind == "judge" else None,
        }
        for e in loaded.evals
    ]


def _relative(loaded: LoadedSuite, out: Path) -> str:
    return Path(os.path.relpath(loaded.path.resolve(), out.resolve().parent)).as_posix()


def _checked(text: str, evals: list[dict[str, Any]]) -> str:
    """Parse the module back: it must be valid Python whose EVALS literal is exactly the data."""
    tree = ast.parse(text)
    found = [
        n
        for n in tree.body
        if isinstance(n, ast.Assign) and [getattr(t, "id", None) for t in n.targets] == ["EVALS"]
    ]
    if len(found) != 1 or ast.literal_eval(found[0].value) != evals:
        raise ValueError("the generated module's EVALS literal does not match the suite")
    return text


_PYTEST = '''\
"""The eval suite as pytest tests (written by trace-workbench; re-export to refresh).

Run: EVAL_TRACES=path/to/traces.jsonl pytest {name}
Each assertion eval must pass on at least its threshold share of the graded traces; a
failing test names the failing traces. Judges call an LLM and run only with EVAL_JUDGES=1
and the workbench installed. EVAL_STANDALONE=1 reads traces as JSON lines of trace records
without the workbench, as a machine without it would.
"""

import importlib.util
import json
import os
import pathlib

import pytest

EVALS_DIR = pathlib.Path(__file__).resolve().parent / {relative!r}
EVALS = {evals}
SHOWN = 20


def _with_workbench():
    if os.environ.get("EVAL_STANDALONE") == "1":
        return None
    try:
        import workbench
    except ImportError:
        return None
    return workbench


@pytest.fixture(scope="module")
def traces():
    path = os.environ.get("EVAL_TRACES")
    if not path:
        pytest.skip("set EVAL_TRACES to the traces file to grade")
    workbench = _with_workbench()
    if workbench is None:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    from workbench.evalgen.fields import records

    return records(workbench.load_traces(path))


def _check(file):
    spec = importlib.util.spec_from_file_location("eval_" + file.stem.replace("-", "_"), file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check


def _grade(check, trace):
    try:
        verdict = check(trace)
    except Exception:
        return None
    return bool(verdict[0] if isinstance(verdict, tuple) else verdict)


@pytest.mark.parametrize(
    "ev", [e for e in EVALS if e["kind"] == "assertion"], ids=lambda e: e["id"]
)
def test_assertion(ev, traces):
    check = _check(EVALS_DIR / ev["file"])
    verdicts = [(trace.get("trace_id"), _grade(check, trace)) for trace in traces]
    graded = [(t, v) for t, v in verdicts if v is not None]
    failing = [str(t) for t, v in graded if not v]
    rate = (len(graded) - len(failing)) / len(graded) if graded else 0.0
    shown = ", ".join(failing[:SHOWN]) + (" ..." if len(failing) > SHOWN else "")
    assert graded and rate >= ev["threshold"], (
        f"{{ev['id']}} ({{ev['failure_mode']}}): pass rate {{rate:.1%}} is below the threshold "
        f"{{ev['threshold']:.1%}} on {{len(graded)}} graded traces; "
        f"{{len(failing)}} failing: {{shown}}"
    )


@pytest.mark.parametrize("ev", [e for e in EVALS if e["kind"] == "judge"], ids=lambda e: e["id"])
def test_judge(ev):
    if os.environ.get("EVAL_JUDGES") != "1":
        pytest.skip("judges call an LLM; set EVAL_JUDGES=1 to run them")
    workbench = _with_workbench()
    if workbench is None or not os.environ.get("EVAL_TRACES"):
        pytest.skip("judges need the workbench installed and EVAL_TRACES set")
    from workbench.suite import Suite, assert_gates

    suite = Suite(EVALS_DIR)
    traces = workbench.load_traces(os.environ["EVAL_TRACES"])
    assert_gates(suite.run(traces, evals=[ev["id"]], progress=False), suite)
'''


def pytest_module(loaded: LoadedSuite, out: Path) -> str:
    """The text of a pytest module that gates the suite's evals on a traces file."""
    evals = _evals_literal(loaded)
    literal = pprint.pformat(evals, sort_dicts=False, width=96)
    text = _PYTEST.format(name=out.name, relative=_relative(loaded, out), evals=literal)
    return _checked(text, evals)


_INSPECT_HEAD = '''\
"""Inspect AI scorers for the eval suite (written by trace-workbench; re-export to refresh).

One scorer per eval, named after its id: CORRECT when the failure is absent, INCORRECT when
present, NOANSWER when the check could not grade. Assertions run the eval's check(); judges
ask their model with the judge prompt and read the final VERDICT line. scorers() lists all.
"""

import importlib.util
import pathlib
import string

from inspect_ai.model import get_model
from inspect_ai.scorer import CORRECT, INCORRECT, NOANSWER, Score, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState

# The rules for trace text in a judge prompt, as the workbench applies them (copied from
# workbench/data_fence.py; it imports re for this module too): fence() defuses fence
# markers, disguised ones too, inside the data; read_verdict() takes only the answer's
# last line, and not an echo of the trace.
{rules}


EVALS_DIR = pathlib.Path(__file__).resolve().parent / {relative!r}
EVALS = {evals}
BY_ID = {{e["id"]: e for e in EVALS}}


def _trace(state: TaskState) -> dict:
    messages = [{{"role": m.role, "content": m.text}} for m in state.messages]
    return {{
        "trace_id": str(state.sample_id),
        "input": state.input_text,
        "output": state.output.completion,
        "messages": messages,
        "metadata": dict(state.metadata or {{}}),
    }}


def _check(file):
    spec = importlib.util.spec_from_file_location("eval_" + file.stem.replace("-", "_"), file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check


def _assertion_scorer(eval_id: str):
    check = _check(EVALS_DIR / BY_ID[eval_id]["file"])

    async def score(state: TaskState, target: Target) -> Score:
        try:
            verdict = check(_trace(state))
        except Exception as exc:
            return Score(value=NOANSWER, explanation=f"the check raised {{exc!r}}")
        passed, reason = verdict if isinstance(verdict, tuple) else (verdict, "")
        return Score(value=CORRECT if passed else INCORRECT, explanation=reason or None)

    return score


def _transcript(state: TaskState) -> str:
    lines = [f"{{m.role.upper()}}: {{m.text}}" for m in state.messages if m.role != "system"]
    return "\\n".join(lines + [f"ASSISTANT: {{state.output.completion}}"])


def _judge_scorer(eval_id: str):
    ev = BY_ID[eval_id]
    text = (EVALS_DIR / ev["file"]).read_text(encoding="utf-8")
    prompt = re.split(r"^---[ \\t]*$", text, maxsplit=2, flags=re.M)[2].strip() + "\\n"

    async def score(state: TaskState, target: Target) -> Score:
        shown = _transcript(state)
        asked = string.Template(prompt).substitute(trace=fence(shown))
        answer = (await get_model(ev["model"]).generate(asked)).completion
        verdict, reason = read_verdict(answer, shown)
        if verdict is None:
            return Score(value=NOANSWER, explanation=f"could not grade: {{reason}}\\n\\n{{answer}}")
        return Score(value=CORRECT if verdict == "PASS" else INCORRECT, explanation=answer)

    return score
'''


def rules_source() -> str:
    """The source of :mod:`workbench.data_fence` below its ``__future__`` import.

    The Inspect module holds it verbatim, so its judges fence and read verdicts by the same
    code as the workbench's, without importing the workbench.

    Raises:
        ValueError: the module has no ``from __future__`` import to start after.
    """
    source = inspect.getsource(data_fence)
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            return "\n".join(source.splitlines()[node.end_lineno :]).strip() + "\n"
    raise ValueError(f"{data_fence.__file__}: no 'from __future__' import to copy the rules after")


def _bound(source: str) -> set[str]:
    """The names a module's top level binds (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


_RESERVED = frozenset(
    {
        "CORRECT", "INCORRECT", "NOANSWER", "Score", "Target", "TaskState", "accuracy", "scorer",
        "scorers", "stderr", "get_model", "importlib", "pathlib", "re", "string", "EVALS",
        "EVALS_DIR", "BY_ID",
    }
    | _bound(rules_source())
)  # fmt: skip

_INSPECT_SCORER = """

@scorer(metrics=[accuracy(), stderr()])
def {name}():
    return {factory}({eval_id!r})
"""


def scorer_name(eval_id: str, taken: set[str]) -> str:
    """A Python identifier for an eval id, unique among ``taken`` (which it joins).

    Examples:
        >>> scorer_name("leak-regex.v2", set())
        'leak_regex_v2'
    """
    base = re.sub(r"\W", "_", eval_id)
    if not base or base[0].isdigit() or keyword.iskeyword(base) or base.startswith("_"):
        base = f"eval_{base}"
    name, n = base, 2
    while name in taken or name in _RESERVED:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def inspect_module(loaded: LoadedSuite, out: Path) -> str:
    """The text of an Inspect AI module with one scorer per eval."""
    evals = _evals_literal(loaded)
    literal = pprint.pformat(evals, sort_dicts=False, width=96)
    text = _INSPECT_HEAD.format(
        relative=_relative(loaded, out), evals=literal, rules=rules_source().strip()
    )
    names: list[str] = []
    taken: set[str] = set()
    for ev in evals:
        name = scorer_name(str(ev["id"]), taken)
        factory = "_judge_scorer" if ev["kind"] == "judge" else "_assertion_scorer"
        text += _INSPECT_SCORER.format(name=name, factory=factory, eval_id=ev["id"])
        names.append(name)
    text += "\n\ndef scorers():\n    return [" + ", ".join(f"{n}()" for n in names) + "]\n"
    return _checked(text, evals)
