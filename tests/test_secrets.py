"""API keys never reach a file the workbench writes, and trace text leaves only redacted.

Distinctive fake keys are planted everywhere a key can come from (provider and workbench
environment variables, ``wb.llm.configure(api_key=...)``, a per-call ``api_key=``), and
the loop runs through them against the fault-injecting server: judges proposed and
measured, the suite saved and run, reports written, the suite exported, a notebook run and
saved. Then every file under the loop's folders, the LLM cache included, is searched for
each key, plain, URL-encoded and in base64. The same run checks what reached the server:
with the redactor on, no e-mail address, phone number or API key from a trace.

``workbench.demo.run_demo`` is left out: it takes no model or key and runs for more than
30 seconds (it embeds the sample traces).
"""

from __future__ import annotations

import base64
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import nbformat
import pandas as pd
import pytest
from fault_server import FaultServer, Recorded, ok, request_text, status
from nbclient import NotebookClient
from suite_fixtures import candidate, judge_spec

import workbench as wb
from workbench import llm
from workbench.compare import compare_periods
from workbench.evalgen.propose import propose_evals, validate
from workbench.llm_config import restoring
from workbench.redact import redact_pii
from workbench.review.meeting import session_report
from workbench.suite import Suite, SuiteFormatError, export, report

MODEL = "openai/fault-model"
MODE = "dismissive_tone"
KEYS = {
    "OPENAI_API_KEY": "sk-proj-PLANTEDenvOpenAI7f3kQ9zX2mW4vB8nR1tY6uL5",
    "ANTHROPIC_API_KEY": "sk-ant-api03-PLANTEDenvAnthropic_9fK2mQ7xZ4wB1nR8tY3uL6-AA",
    "WORKBENCH_API_KEY": "sk-proj-PLANTEDenvWorkbench3hJ8kL1zX5cV9bN2mQ4",
    "configure": "sk-proj-PLANTEDconfigured6pQ2wE8rT4yU1iO7aS3dF",
    "per call": "sk-ant-api03-PLANTEDpercall_8gH3jK6lZ1xC4vB7nM2qW5eR-AA",
}
"""Where each planted key comes from, and the key."""
TRACE_KEY = "sk-proj-LEAKEDinTRACE4fG7hJ1kL9zX3cV6bN8mQ2"
"""A key a customer pasted into a chat: it is trace data, stored, but never sent on."""
EMAIL = re.compile(r"[\w.]+@shop\.example")
PHONE = re.compile(r"415-555-01\d\d")
TRACES = 24


def forms(key: str) -> dict[str, bytes]:
    """The ways a key could sit in a file: as is, URL-encoded, and inside base64 text.

    Base64 of a longer text holding the key shows it at one of three alignments; for each,
    only the characters that depend on the key alone are kept.
    """
    raw = key.encode()
    found = {"plain": raw, "url": quote(key).encode(), "url+": quote_plus(key).encode()}
    found["core"] = raw[8:30]  # the distinctive middle, in case a prefix was cut or masked
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw + b"\0\0")
        first = 4 if shift else 0
        usable = (shift + len(raw)) // 3 * 4
        found[f"base64+{shift}"] = encoded[first:usable]
    return found


def files_holding(roots: list[Path], key: str) -> list[str]:
    """Every file under ``roots`` that holds ``key`` in any of its forms, with the form."""
    hits = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            hits += [f"{path} ({name})" for name, form in forms(key).items() if form in data]
    return hits


def make_traces() -> pd.DataFrame:
    """Support chats; every one carries an e-mail, a phone number and a pasted API key."""
    ids = [f"c{i:03d}" for i in range(TRACES)]
    inputs = [
        f"I'm cust{i}@shop.example, call +1 415-555-01{i:02d}. The key {TRACE_KEY} was "
        f"charged twice (order {i})."
        for i in range(TRACES)
    ]
    outputs = [
        "Not my problem, figure it out yourself." if i % 2 else "Sorry! I refunded the charge."
        for i in range(TRACES)
    ]
    return pd.DataFrame(
        {
            "trace_id": ids,
            "input": inputs,
            "output": outputs,
            "messages": [None] * TRACES,
            "metadata": [{"user": f"cust{i}@shop.example"} for i in range(TRACES)],
            "timestamp": pd.date_range("2026-11-16", periods=TRACES, freq="h", tz="UTC"),
        }
    )


NOTEBOOK_KEY_ENV = "TEAM_LLM_KEY"
"""Where the notebook reads its key from, as a notebook that is shared should."""
NOTEBOOK_CELLS = [
    "import os\nimport workbench as wb\n"
    f"wb.llm.configure(model={MODEL!r}, api_key=os.environ[{NOTEBOOK_KEY_ENV!r}])",
    "wb.llm.settings()",
    "print(wb.llm.settings())",
    "ws = wb.open_workspace(WORKSPACE)\nws",
]


def run_notebook(folder: Path, workspace: Path) -> Path:
    """Run a notebook that configures a key and shows the settings; save it with outputs.

    The key comes from the environment, so only the outputs could bring it into the file.
    """
    notebook = nbformat.v4.new_notebook()
    cells = [f"WORKSPACE = {str(workspace)!r}", *NOTEBOOK_CELLS]
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("LLMSettings(" in str(o) for o in outputs), "the settings were shown"
    path = folder / "analysis.ipynb"
    nbformat.write(notebook, path)
    return path


@dataclass(frozen=True)
class Loop:
    """What one run of the loop left behind."""

    folder: Path
    """Everything written: workspace, suite, reports, exports, caches, notebook."""
    written: dict[str, Path]
    """Files the loop must have written, by what they are."""
    requests: list[Recorded]
    """What reached the LLM server."""
    results: pd.DataFrame
    """The suite run."""


def _label(ws: Any, traces: pd.DataFrame) -> None:
    for number, trace_id in enumerate(traces["trace_id"]):
        if number % 2:
            ws.label(trace_id, "fail", note="curt", annotator="ana")
            ws.tag(trace_id, MODE, annotator="ana")
        else:
            ws.label(trace_id, "pass", annotator="ana")


def _propose(ws: Any, server: FaultServer) -> Any:
    """Propose and measure a judge with a per-call key."""
    server.default = ok("The reply brushes the customer off.\nVERDICT: FAIL")
    per_call = {"api_key": KEYS["per call"]}
    with warnings.catch_warnings():  # few labels: the warnings are not under test here
        warnings.simplefilter("ignore")
        (judge,) = propose_evals(
            ws, MODE, kinds=("judge",), model=MODEL, max_judge_traces=8, **per_call
        )
        return validate(judge, ws, split="test", max_judge_traces=4, **per_call)


def _run_loop(folder: Path, server: FaultServer) -> Loop:
    traces = make_traces()
    ws = wb.open_workspace(folder / "analysis")
    ws.add_traces(traces)
    _label(ws, traces)
    judge = _propose(ws, server)
    ws.suite.add(judge)
    ws.suite.add(candidate("short-reply", {"type": "max_length", "value": 200}, MODE))
    server.script(status(401), status(401))  # two judge calls fail: their reasons are kept
    results = ws.suite.run(traces, progress=False)
    written = {
        "workspace": ws.path / "workbench.db",
        "suite": ws.evals_dir / "suite.yaml",
        "judge": ws.evals_dir / "judges" / f"{judge.id}.md",
        "run cache": ws.evals_dir / ".cache" / "results.sqlite3",
        "llm cache": folder / "llm-cache" / "llm-cache.sqlite3",
        "suite report": report(results, suite=ws.suite, traces=traces).to_html(
            folder / "suite_report.html"
        ),
        "session report": session_report(ws, folder / "team_report.html", suite_results=results),
        "pytest export": export(ws.suite, "pytest", folder / "ci" / "test_evals.py"),
        "promptfoo export": export(
            ws.suite, "promptfoo", folder / "ci" / "promptfooconfig.yaml", traces=traces
        ),
        "comparison": folder / "comparison.html",
        "notebook": run_notebook(folder, ws.path),
    }
    half = TRACES // 2
    comparison = compare_periods(
        traces.iloc[:half], traces.iloc[half:], workspace=ws, suite_results=results,
        semantic=False, show_progress=False,
    )  # fmt: skip
    written["comparison"].write_text(comparison._repr_html_())  # as a notebook shows it
    ws.close()
    return Loop(folder, written, list(server.requests), results)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    """The loop, run once with keys planted in every place a key can come from."""
    folder = tmp_path_factory.mktemp("secrets")
    with pytest.MonkeyPatch.context() as env, restoring(), FaultServer() as server:
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "WORKBENCH_API_KEY"):
            env.setenv(name, KEYS[name])
        env.setenv(NOTEBOOK_KEY_ENV, KEYS["configure"])
        env.setenv("WORKBENCH_CACHE_DIR", str(folder / "cache"))
        for name in ("WORKBENCH_MODEL", "WORKBENCH_API_BASE", "WORKBENCH_EMBEDDING_MODEL"):
            env.delenv(name, raising=False)
        llm.configure(
            model=MODEL,
            api_base=server.api_base,
            api_key=KEYS["configure"],
            cache_dir=folder / "llm-cache",
            redact=redact_pii,
            budget_usd=None,
            max_concurrency=4,
            timeout=10.0,
            max_attempts=2,
            backoff_base_s=0.01,
            max_wait_s=0.1,
        )
        llm.reset_usage()
        yield _run_loop(folder, server)
    llm.reset_usage()


# ---------------------------------------------------------------- nothing written holds a key


@pytest.mark.slow
def test_the_loop_wrote_every_kind_of_file(loop: Loop) -> None:
    empty = [name for name, path in loop.written.items() if path.stat().st_size == 0]
    assert not empty
    graded = loop.results[loop.results["kind"] == "judge"]["status"].value_counts()
    assert graded.get("fail", 0) == TRACES - 2
    reasons = loop.results["reason"].astype(str)
    assert reasons.str.contains("401").sum() == 2, "the failed calls' errors were kept"


@pytest.mark.slow
@pytest.mark.parametrize("source", list(KEYS))
def test_no_written_file_holds_a_planted_key(loop: Loop, source: str) -> None:
    assert files_holding([loop.folder], KEYS[source]) == []


def test_the_search_finds_a_key_in_each_form(tmp_path: Path) -> None:
    """Guards against a search that could never find anything."""
    key = KEYS["configure"]
    blobs = {
        "plain.txt": f"x={key};".encode(),
        "url.txt": f"?k={quote_plus('Bearer ' + key)}".encode(),
        "b64.txt": base64.b64encode(f'{{"Authorization": "Bearer {key}"}}'.encode()),
        "b64-1.bin": b"\x00" + base64.b64encode(b"a" + key.encode() + b"zz"),
        "b64-2.bin": base64.b64encode(b"ab" + key.encode()),
        "cut.txt": key[:32].encode(),
    }
    for name, data in blobs.items():
        (tmp_path / name).write_bytes(data)
    found = {Path(hit.split(" ")[0]).name for hit in files_holding([tmp_path], key)}
    assert found == set(blobs)


def test_showing_the_settings_shows_no_key() -> None:
    """Guards against the key in a notebook's saved output of ``wb.llm.configure(...)``."""
    with restoring():
        shown = llm.configure(api_key=KEYS["configure"])
        assert shown.api_key == KEYS["configure"]
        assert "PLANTED" not in repr(shown) and "PLANTED" not in str(llm.settings())


def test_a_key_in_judge_params_is_refused_before_any_file_is_written(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    spec = judge_spec(MODEL, api_key=KEYS["per call"])
    with pytest.raises(ValueError, match=r"\['api_key'\] hold credentials.*configure"):
        suite.add(candidate("keyed", spec, MODE))
    headers = judge_spec(MODEL, extra_headers={"Authorization": f"Bearer {KEYS['per call']}"})
    with pytest.raises(ValueError, match=r"extra_headers\.Authorization"):
        suite.add(candidate("headed", headers, MODE))
    assert files_holding([tmp_path], KEYS["per call"]) == []
    assert len(suite) == 0


def test_a_hand_written_key_in_a_judge_file_is_reported(tmp_path: Path) -> None:
    suite = Suite(tmp_path / "evals")
    suite.add(candidate("tone", judge_spec(MODEL), MODE))
    path = suite.path / "judges" / "tone.md"
    path.write_text(path.read_text().replace("params:\n", "params:\n  api_key: sk-x\n", 1))
    with pytest.raises(SuiteFormatError, match=r"judges/tone\.md.*api_key.*credentials"):
        suite.load()


# ---------------------------------------------------------------- what leaves is redacted


@pytest.mark.slow
def test_every_request_of_the_judge_and_suite_paths_was_redacted(loop: Loop) -> None:
    texts = [request_text(r.body) for r in loop.requests]
    assert len(texts) >= TRACES, "proposing, measuring and running judges all called out"
    judged = [t for t in texts if "charged twice" in t]
    assert len(judged) == len(texts), "every request carried trace text"
    leaked = [t for t in texts if EMAIL.search(t) or PHONE.search(t) or "LEAKED" in t]
    assert leaked == []
    assert all("[EMAIL]" in t and "[PHONE]" in t and "[API_KEY]" in t for t in judged)


def test_without_the_redactor_the_same_request_carries_the_trace_as_is(tmp_path: Path) -> None:
    """The control: the masks above come from the redactor, not from the trace."""
    with restoring(), FaultServer() as server:
        llm.configure(
            model=MODEL,
            api_base=server.api_base,
            redact=None,
            max_attempts=1,
            cache_dir=tmp_path / "llm-cache",
        )
        server.default = ok("Fine.\nVERDICT: PASS")
        suite = Suite(tmp_path / "evals")
        suite.add(candidate("tone", judge_spec(MODEL), MODE))
        suite.run(make_traces().head(1), progress=False, cache=False)
        (sent,) = [request_text(r.body) for r in server.requests]
    assert "cust0@shop.example" in sent and TRACE_KEY in sent


# Written in two parts, so that secret scanners do not take these fakes for real keys.
KEY_SHAPES = [
    ("sk-proj-", "Ab3dEf6hIj9kLm2nOp5qRs8tUv"),
    ("sk-ant-api03-", "Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2"),
    ("sk-", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1234"),
    ("AKIA", "IOSFODNN7EXAMPLE"),
    ("AIza", "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ("ghp_", "0123456789abcdefghijABCDEFGHIJ012345"),
    ("xoxb-", "123456789012-1234567890123-AbCdEfGh"),
    ("hf_", "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
]


@pytest.mark.parametrize("key", ["".join(parts) for parts in KEY_SHAPES])
def test_the_default_redactor_masks_api_keys(key: str) -> None:
    assert redact_pii(f"my key is {key}, please help") == "my key is [API_KEY], please help"
    assert redact_pii(f'OPENAI_API_KEY="{key}"') == 'OPENAI_API_KEY="[API_KEY]"'


@pytest.mark.parametrize(
    "text",
    [
        "task-abcdefghijklmnopqrstuvwxyz0123",
        "use sk-learn or sk-image for that",
        "order SK-1234567890ABCDEFGHIJ arrived",
        "AKIA is short here; AKIAIOSFODNN7EXAMPLE0 is too long",
        "see hf_transfer and ghp_short",
    ],
)
def test_words_that_only_look_like_keys_are_kept(text: str) -> None:
    assert redact_pii(text) == text


@pytest.mark.parametrize(
    "url", ["postgresql://ana:PLANTED-DB-PASSWORD@host:99x/db", "::bad::ana:PLANTED-DB-PASSWORD@x"]
)
def test_a_bad_database_url_is_reported_without_its_password(url: str) -> None:
    from workbench.store.engine import parse_url

    with pytest.raises(ValueError, match=r"cannot parse database URL .*:\*\*\*@") as raised:
        parse_url(url)
    assert "PLANTED-DB-PASSWORD" not in str(raised.value)
