"""The suite on disk: round trips, standalone assertion files, hand edits, errors, atomic writes."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import llm_fixtures
import pandas as pd
import pytest
import suite_fixtures
import yaml
from suite_fixtures import candidate, judge_spec

from workbench.evalgen.candidate import Metrics
from workbench.evalgen.fields import records
from workbench.evalgen.runtime import run_with_reasons
from workbench.suite import Suite, SuiteFormatError
from workbench.suite import format as suite_format

isolated_llm = llm_fixtures.isolated_llm
scripted = llm_fixtures.scripted
sample_traces = suite_fixtures.sample_traces

TYPED_SPECS: list[dict[str, Any]] = [
    {"type": "contains", "field": "replies", "value": "refund"},
    {"type": "contains", "value": ["Sorry", "apolog"], "case_sensitive": True, "negate": True},
    {"type": "regex", "field": "replies", "value": r"cust_int_\d+", "negate": True},
    {"type": "regex", "field": "conversation", "value": r"^hi\b.*order", "flags": "is"},
    {"type": "max_length", "field": "replies", "value": 700},
    {"type": "min_length", "field": "output", "value": 20},
    {"type": "json_valid", "field": "tool_args"},
    {"type": "tool_called", "value": None},
    {"type": "tool_called", "value": ["get_order", "track_parcel"]},
    {"type": "tool_not_called", "value": "handoff_to_human"},
    {"type": "tool_order", "value": ["get_policy", "issue_refund"]},
    {"type": "language", "match": "user"},
    {"type": "language", "field": "replies", "value": "en"},
    {
        "type": "tool_called",
        "value": "get_order",
        "when": {"type": "regex", "field": "user", "value": r"\border\b", "flags": "i"},
    },
]
PYTHON_SOURCE = (
    "import re\n\n\n"
    "def check(trace):\n"
    '    """Flags replies that promise a refund without a tool call."""\n'
    '    promised = re.search("refund", trace["output"] or "", re.I)\n'
    '    called = any(c.get("name") == "issue_refund" for c in trace["tool_calls"])\n'
    '    return (not promised or called, "promised a refund" if promised and not called else "")\n'
)


def full_suite(path: Path) -> tuple[Suite, list[Any]]:
    """A suite with a typed and a python assertion and a judge, with metrics and many ids."""
    suite = Suite(path)
    metrics = {"dev": Metrics("dev", 9, 1, 30, 2), "test": Metrics("test", 8, 2, 28, 3)}
    ids = [f"tr_{i:06d}" for i in range(1, 61)]
    made = [
        candidate("leak-regex", TYPED_SPECS[2], "leaked_internal_id", ids=ids, metrics=metrics),
        candidate("refund-python", {"type": "python", "value": PYTHON_SOURCE}, "invented_policy"),
        candidate("ignored-judge", judge_spec(), "ignored_constraint", ids=ids[:5]),
    ]
    for c in made:
        suite.add(c, threshold=0.8)
    return suite, made


# ---------------------------------------------------------------- round trip


def test_round_trip_save_load_run_compare(
    tmp_path: Path,
    sample_traces: pd.DataFrame,
    isolated_llm: Path,
    scripted: llm_fixtures.ScriptedLiteLLM,
) -> None:
    suite, made = full_suite(tmp_path / "evals")
    for original in made:
        rebuilt = suite.get(original.id)
        assert rebuilt.spec == {**original.spec, **_judge_defaults(original)}
        assert rebuilt.provenance == original.provenance
        assert rebuilt.metrics == original.metrics
        assert rebuilt.rationale == original.rationale
    traces = sample_traces.head(60)
    scripted.default = "Looks fine.\nVERDICT: PASS"
    results = suite.run(traces, progress=False)
    assert len(results) == 3 * len(traces)
    for original in made:
        mine = results[results["eval"] == original.id].set_index("trace_id")
        theirs = run_with_reasons(original, traces)
        pd.testing.assert_series_equal(
            mine["passed"], theirs["passed"], check_names=False, check_index_type=False
        )


def _judge_defaults(c: Any) -> dict[str, Any]:
    if c.kind != "judge":
        return {}
    return {"verdicts": ["PASS", "FAIL"], "max_trace_chars": 6000, "examples": []}


def test_the_suite_file_is_readable_yaml_with_every_field(tmp_path: Path) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    doc = yaml.safe_load((suite.path / "suite.yaml").read_text())
    assert doc["schema_version"] == 1
    assert set(doc["failure_modes"]) == {
        "leaked_internal_id",
        "invented_policy",
        "ignored_constraint",
    }
    first = doc["evals"][0]
    assert first["file"] == "assertions/leak-regex.py"
    assert first["threshold"] == 0.8
    assert first["provenance"]["labelled_traces"] == {"count": 60, "file": "labels/leak-regex.txt"}
    assert first["alignment"]["test"]["tp"] == 8
    assert doc["evals"][2]["provenance"]["labelled_trace_ids"] == [
        f"tr_{i:06d}" for i in range(1, 6)
    ]
    ignored = (suite.path / ".gitignore").read_text().splitlines()
    assert ".cache/" in ignored and ".*.tmp" in ignored
    assert list(suite.evals["id"]) == ["leak-regex", "refund-python", "ignored-judge"]
    assert not suite.evals["edited"].any()


@pytest.mark.parametrize("spec", TYPED_SPECS, ids=lambda s: s["type"])
def test_standalone_assertion_agrees_with_the_runtime(
    tmp_path: Path, sample_traces: pd.DataFrame, spec: dict[str, Any]
) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("c", spec))
    text = (suite.path / "assertions" / "c.py").read_text()
    imports = {
        alias.name
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert imports <= {"json", "re", "unicodedata"}, "a standalone file needs no workbench"
    namespace: dict[str, Any] = {}
    exec(compile(text, "c.py", "exec"), namespace)
    items = records(sample_traces)
    expected = run_with_reasons(suite.get("c"), sample_traces)["passed"].tolist()
    assert [namespace["check"](item) for item in items] == expected


def test_assertion_file_runs_in_a_python_without_the_workbench(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("leak", TYPED_SPECS[2]))
    suite.add(candidate("py", {"type": "python", "value": PYTHON_SOURCE}))
    script = (
        "import json, sys\n"
        "for path in sys.argv[1:]:\n"
        "    ns = {}\n"
        "    exec(open(path).read(), ns)\n"
        "    t = {'output': 'your id is cust_int_4821, refund done', 'messages': None, "
        "'tool_calls': []}\n"
        "    context = {'vars': {'trace': json.dumps(t)}}\n"
        "    print(ns['check'](t), ns['get_assert'](t['output'], context)['pass'])\n"
    )
    files = [str(suite.path / "assertions" / n) for n in ("leak.py", "py.py")]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, *files],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.split("\n")[:2] == ["False False", "(False, 'promised a refund') False"]


def test_trace_text_in_a_spec_stays_a_string_constant(tmp_path: Path) -> None:
    nasty = '"""\nimport os\nos.system("echo pwned")\n#'
    spec = {"type": "contains", "value": [nasty, "x\u2028y"], "negate": True}
    made = candidate("nasty", spec, "mode\nimport os", rationale=f"because {nasty}")
    suite = Suite(tmp_path / "evals")
    suite.add(made)
    text = (suite.path / "assertions" / "nasty.py").read_text()
    tree = ast.parse(text)
    assert not any(
        isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "system" for n in ast.walk(tree)
    )
    header = text.split("SPEC = ")[0]
    assert all(line.startswith("#") or not line for line in header.splitlines())
    assert suite.get("nasty").spec == spec


# ---------------------------------------------------------------- hand edits


def test_a_suite_edited_by_hand_still_loads(tmp_path: Path) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    before = suite.evals.set_index("id")
    path = suite.path / "suite.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["evals"][0]["threshold"] = 0.95
    doc["evals"] = [dict(reversed(list(e.items()))) for e in reversed(doc["evals"])]
    text = "# our weekly suite, reviewed by ana\n" + yaml.safe_dump(
        dict(reversed(list(doc.items()))), sort_keys=False
    )
    path.write_text(text.replace("evals:\n", "evals:  # newest first\n", 1))
    judge = suite.path / "judges" / "ignored-judge.md"
    judge.write_text(judge.read_text().replace("Decide whether", "Decide carefully whether"))
    after = suite.evals.set_index("id")
    assert list(after.index) == ["ignored-judge", "refund-python", "leak-regex"]
    assert after.loc["leak-regex", "threshold"] == 0.95
    assert after.loc["ignored-judge", "edited"]
    assert after.loc["ignored-judge", "version"] != before.loc["ignored-judge", "version"]
    assert after.loc["leak-regex", "version"] == before.loc["leak-regex", "version"]
    assert "Decide carefully" in suite.get("ignored-judge").spec["prompt"]


def test_editing_spec_changes_the_check_and_its_version(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("leak", TYPED_SPECS[2]))
    path = suite.path / "assertions" / "leak.py"
    path.write_text(path.read_text().replace(r"cust_int_\\d+", r"cust_[a-z]+_\\d+"))
    assert suite.get("leak").spec["value"] == r"cust_[a-z]+_\d+"
    assert suite.evals.loc[0, "edited"]


def test_editing_the_generated_code_is_refused_with_advice(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("leak", TYPED_SPECS[2]))
    path = suite.path / "assertions" / "leak.py"
    path.write_text(path.read_text().replace("return _passes(SPEC, trace)", "return True"))
    with pytest.raises(SuiteFormatError, match=r"evals/assertions/leak\.py: check: .*change SPEC"):
        suite.load()


def test_a_spec_that_is_not_a_literal_is_never_executed(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("leak", TYPED_SPECS[2]))
    path = suite.path / "assertions" / "leak.py"
    marker = tmp_path / "ran"
    text = path.read_text().replace("SPEC = {", f"SPEC = open({str(marker)!r}, 'w') and {{", 1)
    path.write_text(text)
    with pytest.raises(SuiteFormatError, match=r"evals/assertions/leak\.py: line \d+: SPEC: must"):
        suite.load()
    assert not marker.exists()


def test_a_python_check_edited_to_import_os_is_refused_naming_the_line(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("py", {"type": "python", "value": PYTHON_SOURCE}))
    path = suite.path / "assertions" / "py.py"
    path.write_text(path.read_text().replace("import re\n", "import re\nimport os\n", 1))
    with pytest.raises(SuiteFormatError, match=r"evals/assertions/py\.py: line \d+: check: .*'os'"):
        suite.load()


# ---------------------------------------------------------------- validation errors


def _edit_suite(suite: Suite, change: Any) -> None:
    path = suite.path / "suite.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _set(index: int, **fields: Any) -> Any:
    return lambda d: d["evals"][index].update(fields)


SUITE_ERRORS = [
    (_set(2, threshold=1.5), "evals[2].threshold: must be between 0 and 1"),
    (_set(1, threshold="high"), "evals[1].threshold: must be a number"),
    (_set(0, kind="rule"), "evals[0].kind: Input should be 'assertion' or 'judge'"),
    (lambda d: d["evals"][0].pop("version"), "evals[0].version: required field is missing"),
    (_set(0, thresold=0.5), "evals[0].thresold: unknown field"),
    (_set(1, id="leak-regex"), "evals[1].id: duplicate id 'leak-regex' (also evals[0])"),
    (_set(0, file="../../etc/passwd"), "evals[0].file: '../../etc/passwd' must be a relative"),
    (_set(0, file="assertions/gone.py"), "evals[0].file: assertions/gone.py does not exist"),
    (
        lambda d: d["failure_modes"].pop("invented_policy"),
        "evals[1].provenance.failure_mode: 'invented_policy' is not listed",
    ),
    (lambda d: d.update(schema_version=2), "schema_version: unsupported schema_version 2"),
    (
        lambda d: d["evals"][0]["provenance"]["labelled_traces"].update(count=3),
        "evals[0].provenance.labelled_traces.count: 3, but labels/leak-regex.txt lists 60 ids",
    ),
    (
        lambda d: d["evals"][0]["alignment"]["dev"].update(tp=-1),
        "evals[0].alignment.dev.tp: Input should be greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(("change", "message"), SUITE_ERRORS)
def test_validation_errors_name_the_file_and_the_field(
    tmp_path: Path, change: Any, message: str
) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    _edit_suite(suite, change)
    with pytest.raises(SuiteFormatError) as caught:
        suite.load()
    expected = f"evals/suite.yaml: {message}"
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    _edit_suite(suite, lambda d: [e.update(threshold=2) for e in d["evals"]])
    with pytest.raises(SuiteFormatError) as caught:
        suite.load()
    assert [p.split(":")[1].strip() for p in caught.value.problems] == [
        f"evals[{i}].threshold" for i in range(3)
    ]


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    path = suite.path / "suite.yaml"
    lines = path.read_text().splitlines()
    lines[9] = lines[9] + " ]["
    path.write_text("\n".join(lines))
    with pytest.raises(SuiteFormatError, match=r"^evals/suite\.yaml: line \d+, column \d+: "):
        suite.load()


JUDGE_ERRORS = [
    ("max_trace_chars: null", "max_trace_chars: lots", "max_trace_chars: Input should be"),
    ("  temperature: 0", "  temperature: 0\n  stream: true", "params: ['stream'] can not be set"),
    ("    FAIL: the failure is present\n", "", "output.verdicts: must name exactly PASS and FAIL"),
    ("$trace", "$trace $user", "prompt: placeholders other than $trace: $user"),
    ("id: ignored-judge", "id: other", "id: 'other' differs from evals/suite.yaml evals[2].id"),
    ("---\nid:", "id:", "must start with YAML front matter"),
]


@pytest.mark.parametrize(("old", "new", "message"), JUDGE_ERRORS)
def test_judge_file_errors_name_the_file_and_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    path = suite.path / "judges" / "ignored-judge.md"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(SuiteFormatError) as caught:
        suite.load()
    expected = f"evals/judges/ignored-judge.md: {message}"
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


# ---------------------------------------------------------------- writes


def test_duplicate_ids_are_refused_unless_replaced(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("leak", TYPED_SPECS[2]), threshold=0.7)
    with pytest.raises(
        ValueError, match="an eval with id 'leak' exists already; pass replace=True"
    ):
        suite.add(candidate("leak", TYPED_SPECS[0]))
    record = suite.add(candidate("leak", TYPED_SPECS[0]), replace=True)
    assert record.threshold == 0.7, "replacing keeps the threshold"
    assert suite.get("leak").spec == TYPED_SPECS[0]
    assert len(suite) == 1


def test_remove_deletes_the_entry_and_the_files(tmp_path: Path) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    suite.remove("leak-regex")
    assert "leak-regex" not in suite
    assert not (suite.path / "assertions" / "leak-regex.py").exists()
    assert not (suite.path / "labels" / "leak-regex.txt").exists()
    with pytest.raises(KeyError, match=r"no eval 'leak-regex' in evals/suite\.yaml"):
        suite.get("leak-regex")


def test_set_threshold_keeps_the_version(tmp_path: Path) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    version = suite.evals.loc[0, "version"]
    suite.set_threshold("leak-regex", 0.99)
    assert suite.evals.loc[0, ["threshold", "version"]].tolist() == [0.99, version]
    with pytest.raises(ValueError, match="between 0 and 1"):
        suite.set_threshold("leak-regex", 1.01)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    before = (suite.path / "suite.yaml").read_bytes()

    def crash(fd: int) -> None:
        raise KeyboardInterrupt  # as if the process were stopped mid-write

    monkeypatch.setattr(suite_format.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        suite.set_threshold("leak-regex", 0.5)
    monkeypatch.undo()
    assert (suite.path / "suite.yaml").read_bytes() == before
    leftovers = [p for p in suite.path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert suite.evals.loc[0, "threshold"] == 0.8


def test_readers_never_see_a_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite, _ = full_suite(tmp_path / "evals")
    seen: list[bytes] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(Path(dst).read_bytes())  # what a reader sees just before the switch
        real_replace(src, dst)
        seen.append(Path(dst).read_bytes())

    monkeypatch.setattr(suite_format.os, "replace", spy)
    suite.set_threshold("leak-regex", 0.5)
    for data in seen:
        assert yaml.safe_load(data)["schema_version"] == 1


def test_an_empty_or_missing_suite_is_empty(tmp_path: Path) -> None:
    assert len(Suite(tmp_path / "nothing")) == 0
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "suite.yaml").write_text("# nothing yet\n")
    assert Suite(tmp_path / "evals").evals.empty


def test_definitions_come_from_the_workspace(tmp_path: Path) -> None:
    import workbench as wb

    with wb.open_workspace(tmp_path / "analysis") as ws:
        ws.define(
            "leaked_internal_id",
            "The reply shows an internal id such as cust_int_123.",
            annotator="ana",
        )
        suite = Suite(ws.evals_dir, workspace=ws)
        suite.add(candidate("leak", TYPED_SPECS[2], "leaked_internal_id"))
        assert suite.load().failure_modes == {
            "leaked_internal_id": "The reply shows an internal id such as cust_int_123."
        }
        assert suite.path == tmp_path / "analysis" / "evals"


@pytest.mark.parametrize(
    "module",
    [
        "workbench.suite.format", "workbench.suite.assertion_file", "workbench.suite.judge_file",
        "workbench.suite.snippets", "workbench.suite.loading", "workbench.suite.cache",
        "workbench.suite.suite", "workbench.suite.runner", "workbench.suite.parallel",
        "workbench.suite.gate", "workbench.suite.report", "workbench.suite.export",
        "workbench.suite.export_modules",
    ],
)  # fmt: skip
def test_docstring_examples_run(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import doctest
    import importlib

    monkeypatch.chdir(suite_fixtures.REPO)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
