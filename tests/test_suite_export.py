"""Exports: a promptfoo config checked against its schema, a pytest module that runs, Inspect."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import suite_fixtures
import yaml
from suite_fixtures import candidate, judge_spec

from workbench.evalgen.fields import records
from workbench.suite import Suite, export
from workbench.suite.cli import add_commands
from workbench.suite.export import (
    PROMPTFOO_SCHEMA,
    native_assertion,
    promptfoo_tests_path,
    validate,
)

sample_traces = suite_fixtures.sample_traces

SPECS: dict[str, dict[str, Any]] = {
    "leak-regex": {"type": "regex", "value": r"cust_int_\d+", "negate": True},
    "apology-any": {"type": "contains", "value": ["sorry", "apolog"], "negate": True},
    "args-json": {"type": "json_valid", "field": "tool_args"},
    "output-json": {"type": "json_valid"},
    "short-replies": {"type": "max_length", "field": "replies", "value": 900},
    "flag-regex": {"type": "regex", "value": "(?i)refund"},
}


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    made = Suite(tmp_path / "evals")
    for eval_id, spec in SPECS.items():
        made.add(candidate(eval_id, spec, f"mode_of_{eval_id}", ids=["tr_000001"]), threshold=0.5)
    made.add(candidate("ignored-judge", judge_spec(), "ignored_constraint"), threshold=0.5)
    return made


def test_promptfoo_config_maps_each_eval_and_matches_the_schema(suite: Suite) -> None:
    out = export(suite, "promptfoo", suite.path / "promptfooconfig.yaml")
    text = out.read_text()
    config = yaml.safe_load(text)
    validate(config, PROMPTFOO_SCHEMA, "config")
    assert config["providers"] == [{"id": "echo", "label": "recorded traces"}]
    assert config["prompts"] == ["{{output}}"]
    assert config["tests"] == "file://promptfooconfig_tests.jsonl"
    asserts = {a["metric"]: a for a in config["defaultTest"]["assert"]}
    assert asserts["mode_of_leak-regex"] == {
        "type": "not-regex", "value": r"cust_int_\d+", "metric": "mode_of_leak-regex"
    }  # fmt: skip
    assert asserts["mode_of_apology-any"]["type"] == "not-icontains-any"
    assert asserts["mode_of_output-json"]["type"] == "is-json"
    for python_only in ("args-json", "short-replies", "flag-regex"):
        found = asserts[f"mode_of_{python_only}"]
        assert found["type"] == "python"
        assert found["value"] == f"file://assertions/{python_only}.py"
        assert (out.parent / found["value"].removeprefix("file://")).exists()
    judge = asserts["ignored_constraint"]
    assert judge["type"] == "llm-rubric" and judge["provider"] == "openai:gpt-4o-mini"
    assert "# leak-regex (version " in text and "by mined:test" in text, "provenance comments"


def test_a_config_elsewhere_points_back_at_the_evals(suite: Suite, tmp_path: Path) -> None:
    out = export(suite, "promptfoo", tmp_path / "ci" / "promptfoo.yaml")
    config = yaml.safe_load(out.read_text())
    python = [a for a in config["defaultTest"]["assert"] if a["type"] == "python"]
    assert python[0]["value"] == "file://../evals/assertions/args-json.py"
    assert (out.parent / "../evals/assertions/args-json.py").exists()


def test_the_schema_check_refuses_what_promptfoo_would_not_read() -> None:
    bad = {"prompts": ["x"], "providers": [{"id": "echo"}], "tests": "file://t.jsonl",
           "defaultTest": {"assert": [{"type": "python", "value": "output == 1"}]}}  # fmt: skip
    with pytest.raises(ValueError, match=r"config: defaultTest/assert/0/value: .* does not match"):
        validate(bad, PROMPTFOO_SCHEMA, "config")
    bad["defaultTest"] = {"assert": [{"type": "python-ish", "value": "file://a.py"}]}
    with pytest.raises(ValueError, match="is not one of"):
        validate(bad, PROMPTFOO_SCHEMA, "config")


def test_native_assertions_only_where_promptfoo_means_the_same() -> None:
    assert native_assertion({"type": "contains", "value": "x", "case_sensitive": True}) == {
        "type": "contains", "value": "x"
    }  # fmt: skip
    assert native_assertion({"type": "contains", "field": "replies", "value": "x"}) is None
    assert native_assertion({"type": "regex", "value": "a", "flags": "i"}) is None
    assert native_assertion({"type": "regex", "value": r"\Aa"}) is None
    when = {"type": "tool_called", "value": "x"}
    assert native_assertion({"type": "contains", "value": "x", "when": when}) is None


def test_promptfoo_get_assert_gives_the_suites_verdicts(
    suite: Suite, sample_traces: pd.DataFrame
) -> None:
    traces = sample_traces.head(80)
    out = export(suite, "promptfoo", suite.path / "promptfooconfig.yaml", traces=traces)
    tests = [json.loads(line) for line in promptfoo_tests_path(out).read_text().splitlines()]
    assert [t["description"] for t in tests] == traces["trace_id"].tolist()
    results = suite.run(traces, evals=["args-json", "short-replies"], progress=False)
    for eval_id in ("args-json", "short-replies"):
        namespace: dict[str, Any] = {}
        exec((suite.path / "assertions" / f"{eval_id}.py").read_text(), namespace)
        graded = [namespace["get_assert"](t["vars"]["output"], {"vars": t["vars"]}) for t in tests]
        expected = results.loc[results["eval"] == eval_id, "passed"].tolist()
        assert [g["pass"] for g in graded] == expected
        assert {g["score"] for g in graded} <= {0.0, 1.0}


def _run_pytest(module: Path, traces: Path, **env: str) -> subprocess.CompletedProcess[str]:
    ini = module.parent / "pytest.ini"
    ini.write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(module), "-q", "-p", "no:cacheprovider",
         "-c", str(ini), "--rootdir", str(module.parent)],
        capture_output=True, text=True, timeout=120, cwd=module.parent,
        env={**os.environ, "EVAL_TRACES": str(traces), **env},
    )  # fmt: skip


def test_the_pytest_export_runs_and_names_failing_traces(
    suite: Suite, sample_traces: pd.DataFrame, tmp_path: Path
) -> None:
    traces_file = tmp_path / "traces.jsonl"
    traces_file.write_text("".join(json.dumps(r) + "\n" for r in records(sample_traces.head(300))))
    suite.set_threshold("output-json", 0.0)  # the sample's replies are prose, not JSON
    suite.set_threshold("flag-regex", 0.0)
    module = export(suite, "pytest", tmp_path / "ci" / "test_evals.py")
    ast.parse(module.read_text())
    done = _run_pytest(module, traces_file, EVAL_STANDALONE="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed, 1 skipped" in done.stdout
    suite.set_threshold("short-replies", 1.0)
    export(suite, "pytest", module)  # thresholds are written into the module
    results = suite.run(sample_traces.head(300), evals=["short-replies"], progress=False)
    failing = results.loc[results["passed"] == False, "trace_id"].tolist()  # noqa: E712
    assert failing, "the sample has overlong replies"
    done = _run_pytest(module, traces_file)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "short-replies (mode_of_short-replies): pass rate" in done.stdout
    assert f"failing: {', '.join(failing[:3])}" in done.stdout


def test_the_inspect_export_is_one_scorer_per_eval(suite: Suite, tmp_path: Path) -> None:
    suite.add(candidate("class", SPECS["leak-regex"], "m"))
    suite.add(candidate("scorer", SPECS["leak-regex"], "m"))
    module = export(suite, "inspect", tmp_path / "scorers.py")
    tree = ast.parse(module.read_text())
    scorers = [
        f.name
        for f in tree.body
        if isinstance(f, ast.FunctionDef)
        and any(getattr(getattr(d, "func", None), "id", "") == "scorer" for d in f.decorator_list)
    ]
    assert scorers == [
        "leak_regex", "apology_any", "args_json", "output_json", "short_replies", "flag_regex",
        "ignored_judge", "eval_class", "scorer_2",
    ]  # fmt: skip
    evals = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "EVALS")  # type: ignore[attr-defined]
    assert [e["id"] for e in ast.literal_eval(evals.value)][-2:] == ["class", "scorer"]


def test_unknown_format_is_refused(suite: Suite, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format 'csv'; use one of promptfoo"):
        export(suite, "csv", tmp_path / "x")


def test_the_export_command(
    suite: Suite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="workbench")
    add_commands(parser.add_subparsers())
    out = tmp_path / "pf.yaml"
    args = parser.parse_args(
        ["eval", "export", str(suite.path), "--format", "promptfoo", "--out", str(out)]
    )
    assert args.run(args) == 0 and out.exists()
    assert "Wrote promptfoo export" in capsys.readouterr().out
