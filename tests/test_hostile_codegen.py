"""Hostile trace text in generated code: checks mined, drafted, exported and run stay data.

Assertions are mined from labels on the hostile traces (their phrases carry quotes, triple
quotes, backslashes, ``__import__`` and braces), plus typed checks whose values are the raw
payloads and an LLM-drafted python check (``mock_response``) holding them as strings. The
suite is exported to pytest, Inspect and promptfoo: every generated Python file must parse,
and the payloads may appear only inside string literals or comments; the pytest export is
run on the hostile traces and no payload may run (the marker file stays absent). Last, python
checks written to reach past the sandbox (a class pattern reading ``__reduce_ex__``, hidden
names imported by name, modules that the allowed modules hold) are refused.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import llm_fixtures
import pandas as pd
import pytest
import yaml
from browser_fixtures import support_trace
from hostile import (  # noqa: F401 (fixtures are found by name)
    ATTACKS,
    HostileSet,
    hostile_fixture,
)

from workbench.evalgen import assertions
from workbench.evalgen.alignment import LabelSet, split_labels
from workbench.evalgen.candidate import Candidate, Provenance
from workbench.evalgen.runtime import compile_check
from workbench.evalgen.sandbox import UnsafeCheckError, check_source
from workbench.suite import Suite
from workbench.suite.export import export, promptfoo_tests_path
from workbench.suite.format import SuiteFormatError

isolated_llm = llm_fixtures.isolated_llm  # bound here so pytest finds it (no conftest for it)

MODE = "code_injection"
MODEL = "openai/gpt-4o-mini"
PROVENANCE = Provenance(MODE, "", "2026-11-20T00:00:00+00:00")
CODE = [a for a in ATTACKS if a.startswith("code-")]


def _drafted(hostile: HostileSet) -> str:
    """A check as a model might draft it: the hostile payloads held as string literals.

    The payloads are cut at ``__`` (a check may hold no string with ``__`` in it).
    """
    needles = [part for a in CODE for part in hostile.payloads[a].split("__") if part.strip()]
    return (
        "```python\n"
        f"NEEDLES = {needles!r}\n\n\n"
        "def check(trace):\n"
        "    text = trace['output']\n"
        "    return not any(needle in text for needle in NEEDLES)\n"
        "```"
    )


FAILING = ("hostile-code", "hostile-judge", "hostile-fake")


@pytest.fixture(name="labels", scope="module")
def labels_fixture(hostile: HostileSet) -> LabelSet:
    """Code and judge injections failing; the other hostile traces and support chats clean."""
    clean = pd.DataFrame([support_trace(i) for i in range(12)])
    traces = pd.concat([hostile.small(), clean], ignore_index=True)
    failing = pd.Series(
        [str(t).startswith(FAILING) for t in traces["trace_id"]], index=traces["trace_id"]
    )
    return LabelSet(MODE, failing, split_labels(failing), traces, ("ana",))


@pytest.fixture(name="suite", scope="module")
def suite_fixture(
    hostile: HostileSet, labels: LabelSet, tmp_path_factory: pytest.TempPathFactory
) -> Suite:
    """Mined, typed and drafted checks of hostile text, each added to a suite."""
    mined = assertions.mine_assertions(labels, PROVENANCE, top=8)
    values = [str(c.spec.get("value")) for c in mined]
    assert any(bit in v for v in values for bit in ("\x1b", "<", "system"))  # hostile data
    cookie = hostile.trace("code-coding-cookie")["tool_calls"][0]["name"]
    payloads = [hostile.payloads[a] for a in CODE]
    typed = [
        Candidate(
            "payloads-absent",
            "assertion",
            {"type": "contains", "value": payloads, "case_sensitive": True, "negate": True},
            f"Rationale quoting a payload: {payloads[0]}",
            PROVENANCE,
        ),
        Candidate(  # its rule, with the tool's name, is the file's second line
            "cookie-tool",
            "assertion",
            {"type": "tool_called", "value": cookie},
            "",
            PROVENANCE,
        ),
        Candidate(
            "backslash-regex",
            "assertion",
            {"type": "regex", "field": "replies", "value": re.escape(payloads[2]), "negate": True},
            "",
            PROVENANCE,
        ),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("llm-cache")))
        drafted = assertions.draft_check(
            labels, "Code in replies.", model=MODEL, provenance=PROVENANCE,
            mock_response=_drafted(hostile), cache=False,
        )  # fmt: skip
    suite = Suite(tmp_path_factory.mktemp("suite") / "evals")
    for candidate in [*mined, *typed, drafted]:
        suite.add(candidate, threshold=0.5)
    return suite


def _outside_literals(source: str, needles: list[str]) -> list[str]:
    """The needles found in the code of a source, i.e. outside string literals and comments."""
    ast.parse(source)  # valid Python first
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    code = "".join(t.string for t in tokens if t.type not in (tokenize.STRING, tokenize.COMMENT))
    return [needle for needle in needles if needle in code]


def _needles(hostile: HostileSet) -> list[str]:
    return [str(hostile.marker), "__pwned", "system(", "__import__"]


def test_every_generated_file_keeps_trace_text_in_literals(
    hostile: HostileSet, suite: Suite, tmp_path: Path
) -> None:
    files = sorted((suite.path / "assertions").glob("*.py"))
    assert len(files) == len(suite.load().evals)
    files += [
        export(suite, "pytest", tmp_path / "test_evals.py"),
        export(suite, "inspect", tmp_path / "inspect_evals.py"),
    ]
    needles = _needles(hostile)
    holding = 0
    for file in files:
        source = file.read_text(encoding="utf-8")
        assert _outside_literals(source, needles) == [], file.name
        as_python_reads_it = ast.dump(ast.parse(file.read_bytes()))  # encoding declaration too
        assert as_python_reads_it == ast.dump(ast.parse(source)), file.name
        holding += str(hostile.marker) in source
    assert holding >= 2  # the typed and the drafted check hold the payloads, as strings

    typed = (suite.path / "assertions" / "payloads-absent.py").read_text(encoding="utf-8")
    spec = ast.literal_eval(typed.split("SPEC = ", 1)[1].split("\n}\n", 1)[0] + "\n}")
    assert spec["value"] == [hostile.payloads[a] for a in CODE]  # byte for byte


def test_the_promptfoo_export_holds_trace_text_as_yaml_and_json_data(
    hostile: HostileSet, suite: Suite, tmp_path: Path
) -> None:
    config = export(suite, "promptfoo", tmp_path / "promptfooconfig.yaml", traces=hostile.small())
    loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    values = [a.get("value") for a in loaded["defaultTest"]["assert"]]
    assert [hostile.payloads[a] for a in CODE] in values
    lines = promptfoo_tests_path(config).read_text(encoding="utf-8").splitlines()
    tests = [json.loads(line) for line in lines]
    assert len(tests) == len(hostile.small())
    by_id = {t["vars"]["trace_id"]: t for t in tests}
    for attack in CODE:
        trace = hostile.trace(attack)
        assert by_id[f"hostile-{attack}"]["vars"]["output"] == trace["output"]


def _run_pytest(module: Path, traces: Path, **env: str) -> subprocess.CompletedProcess[str]:
    ini = module.parent / "pytest.ini"
    ini.write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(module), "-q", "-p", "no:cacheprovider",
         "-c", str(ini), "--rootdir", str(module.parent)],
        capture_output=True, text=True, timeout=180, cwd=module.parent,
        env={**os.environ, "EVAL_TRACES": str(traces), **env},
    )  # fmt: skip


@pytest.mark.slow
def test_running_the_pytest_export_on_hostile_traces_runs_no_payload(
    hostile: HostileSet, suite: Suite, tmp_path: Path
) -> None:
    module = export(suite, "pytest", tmp_path / "ci" / "test_evals.py")
    for env in ({}, {"EVAL_STANDALONE": "1"}):
        done = _run_pytest(module, hostile.jsonl, **env)
        summary = done.stdout.strip().splitlines()[-1]
        assert done.returncode in (0, 1), done.stdout + done.stderr  # gates may fail
        assert "error" not in summary, done.stdout + done.stderr
        assert "passed" in summary or "failed" in summary
        assert not hostile.marker.exists(), "a payload ran in the exported tests"


# ---------------------------------------------------------------- checks that reach out

ESCAPES = {
    "class pattern": (
        "import json\n"
        "def check(trace):\n"
        "    match json.JSONEncoder():\n"
        "        case json.JSONEncoder(__reduce_ex__=reduce):\n"
        "            base = reduce(1)[1][1]\n"
        "    match json.dumps:\n"
        "        case base(__globals__=found):\n"
        "            found['_' * 2 + 'builtins' + '_' * 2]['open']('MARKER', 'w').write('x')\n"
        "    return True\n"
    ),
    "hidden name imported": (
        "from collections import _sys as system\n"
        "def check(trace):\n"
        "    system.modules['os'].system('touch MARKER')\n"
        "    return True\n"
    ),
    "formatter imported": (
        "from string import Formatter as F\ndef check(trace):\n    return F() is None\n"
    ),
}
"""Python checks that passed the static check before, and what they would do if run."""

OUTSIDE_ONLY = {
    "module held by datetime": (
        "import datetime\n"
        "def check(trace):\n"
        "    datetime.sys.modules['os'].system('touch MARKER')\n"
        "    return True\n"
    ),
    "module held by json": (
        "import json\n"
        "def check(trace):\n"
        "    json.codecs.open('MARKER', 'w').write('x')\n"
        "    return True\n"
    ),
    "module imported by name": (
        "from json import decoder\ndef check(trace):\n    return decoder is None\n"
    ),
}
"""Checks the sandbox's namespace defuses, but that an exported file would run as written."""


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_a_check_reaching_past_the_sandbox_is_refused(hostile: HostileSet, name: str) -> None:
    source = ESCAPES[name].replace("MARKER", str(hostile.marker))
    with pytest.raises(UnsafeCheckError, match="refused python check"):
        compile_check({"type": "python", "value": source})
    assert not hostile.marker.exists()


@pytest.mark.parametrize("name", sorted(OUTSIDE_ONLY))
def test_a_check_that_would_reach_out_of_an_export_is_kept_out_of_the_suite(
    hostile: HostileSet, name: str, tmp_path: Path
) -> None:
    source = OUTSIDE_ONLY[name].replace("MARKER", str(hostile.marker))
    check_source(source)  # harmless in the sandbox, where these modules are not reachable
    with pytest.raises(UnsafeCheckError, match="module held by an allowed module"):
        check_source(source, standalone=True)
    suite = Suite(tmp_path / "evals")
    candidate = Candidate("reach", "assertion", {"type": "python", "value": source}, "", PROVENANCE)
    with pytest.raises(UnsafeCheckError):
        suite.add(candidate)
    good = Candidate("fine", "assertion", {"type": "python", "value": _SAFE}, "", PROVENANCE)
    suite.add(good)
    file = suite.path / "assertions" / "fine.py"
    file.write_text(file.read_text().replace(_SAFE, source), encoding="utf-8")  # a hand edit
    with pytest.raises(SuiteFormatError, match="module held by an allowed module"):
        suite.load()
    assert not hostile.marker.exists()


_SAFE = "def check(trace):\n    return True\n"


def test_a_drafted_check_that_reaches_out_is_refused(labels: LabelSet, isolated_llm: Path) -> None:
    answer = "```python\n" + ESCAPES["class pattern"] + "```"
    with pytest.raises(UnsafeCheckError, match="class pattern"):
        assertions.draft_check(
            labels, "x", model=MODEL, provenance=PROVENANCE, mock_response=answer
        )
