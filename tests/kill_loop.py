"""The parent side of the kill loop: fork a child, let it work, SIGKILL it, check everything.

Each iteration picks a workload (:mod:`kill_worker`: tagging, accepting evals, suite runs)
with a seeded random generator, has the fork server fork a child on the *same* workspace as
every iteration before (so damage would pile up), waits until the child says ``ready``, lets
it work for a random 50-800 ms and kills it with SIGKILL. Then, in this process:

* the workspace opens, and every event any child ever acknowledged is in the log as reported;
* ``evals/`` holds no file that does not parse, the suite loads, and every eval any child
  acknowledged is there as acknowledged (an eval whose write was under way may be old or new);
* every judge result of a run that returned is in the result cache; the run that was killed
  is resumed in a fresh child, against the same fault server, and must send no request for
  a (trace, eval, repeat) whose result was stored before the kill.

Used by tests/test_kill_loop.py and benchmarks/bench_kill.py, which print :class:`Figures`.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from fault_server import Fault, FaultServer, ok, slow, status
from forked_children import Child, ForkServer
from kill_worker import JUDGES, prepare

from workbench.suite.assertion_file import parse_assertion
from workbench.suite.format import SuiteDocument, SuiteFormatError, load_document
from workbench.suite.judge_file import parse_judge
from workbench.suite.loading import load_suite
from workbench.workspace import Workspace, open_workspace

OPS = ("tag", "accept", "run")
"""The workloads, in the order figures list them."""
WORKER = Path(__file__).resolve().parent / "kill_worker.py"
_EVAL = re.compile(r"\[eval ([\w.-]+)\]")
_QUESTION = re.compile(r"question (\d+)\b")
Key = tuple[str, str, str, int]  # eval, trace id, model, repeat


@dataclass
class Figures:
    """What one kill loop did and found; every count of damage must stay 0."""

    backend: str
    iterations: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    """Kills per workload."""
    mid_call: Counter[str] = field(default_factory=Counter)
    """Kills that landed while a call (event, eval write, run) was under way."""
    in_file_write: int = 0
    """Acceptances killed inside the write of one of their files."""
    after_file_write: int = 0
    """Acceptances killed after one of their files was written, before they returned."""
    events_acknowledged: int = 0
    evals_acknowledged: int = 0
    results_acknowledged: int = 0
    """Judge results of runs that returned (in a child, or resumed here)."""
    lookups: int = 0
    """Acknowledged items looked up, summed over iterations (each is checked every time)."""
    events_lost: int = 0
    evals_lost: int = 0
    results_lost: int = 0
    half_written: int = 0
    """Files in evals/ that do not parse, and suites that do not load."""
    runs_resumed: int = 0
    stored_before_resume: int = 0
    """Judge results a killed run had stored, which its resumption must not ask for."""
    calls_on_resume: int = 0
    repeated_calls: int = 0
    temp_files: int = 0
    """Temporary files of interrupted atomic writes left in evals/ (never read)."""
    unlisted_files: int = 0
    """Eval files written but not (yet) listed in suite.yaml when the kill came."""
    looks_edited: int = 0
    """Evals whose replacement was cut between its file and suite.yaml (shown as edited)."""
    seconds: float = 0.0
    ready_s: list[float] = field(default_factory=list)
    check_s: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def damage(self) -> dict[str, int]:
        """The counts that must be 0."""
        return {
            "events lost": self.events_lost,
            "evals lost": self.evals_lost,
            "results lost": self.results_lost,
            "half-written files": self.half_written,
            "LLM calls repeated after resume": self.repeated_calls,
        }

    def report(self) -> str:
        """The figures as lines of text."""
        per_op = ", ".join(f"{op} {self.kills[op]} ({self.mid_call[op]} mid-call)" for op in OPS)
        median = sorted(self.ready_s)[len(self.ready_s) // 2] if self.ready_s else 0.0
        check = sorted(self.check_s)[len(self.check_s) // 2] if self.check_s else 0.0
        lines = [
            f"backend {self.backend}: {self.iterations} iterations in {self.seconds:.1f} s "
            f"(fork to ready median {median * 1000:.0f} ms, checks median {check * 1000:.0f} ms)",
            f"kills: {per_op}; acceptances killed inside a file write: {self.in_file_write}, "
            f"after one and before returning: {self.after_file_write}",
            f"acknowledged: {self.events_acknowledged} events, {self.evals_acknowledged} eval "
            f"writes, {self.results_acknowledged} judge results; {self.lookups} look-ups",
            f"runs resumed {self.runs_resumed}: {self.stored_before_resume} results stored "
            f"before the kill, {self.calls_on_resume} calls made on resume",
            *(f"{name}: {count}" for name, count in self.damage.items()),
            f"left behind (harmless): {self.temp_files} temp files, {self.unlisted_files} "
            f"unlisted eval files, {self.looks_edited} evals shown as edited",
        ]
        return "\n".join(lines)


def fault_mix(rng: random.Random, count: int) -> list[Fault]:
    """Answers for one iteration: 10% 429s, 10% without a verdict, the rest verdicts."""
    out = []
    for _ in range(count):
        draw, delay = rng.random(), rng.uniform(0.005, 0.04)
        if draw < 0.1:
            out.append(status(429, retry_after="0"))
        elif draw < 0.2:
            out.append(slow(delay, "Hard to say; it depends."))
        else:
            verdict = rng.choice(["PASS", "FAIL"])
            out.append(slow(delay, f"The reply is on topic.\nVERDICT: {verdict}"))
    return out


class KillLoop:
    """Kill children at random moments on one workspace and check what they leave behind.

    Args:
        root: The workspace folder (created and filled when new).
        db_url: A PostgreSQL URL, or None for the SQLite file in ``root``.
        server: The fault-injecting LLM server the judges call.
        llm_cache: The LLM cache folder the children share.
        seed: Seeds the workloads, the waits and the server's answers.
        forks: A fork server to use (and leave running); by default one of its own.
    """

    def __init__(
        self,
        root: Path,
        db_url: str | None,
        server: FaultServer,
        llm_cache: Path,
        seed: int = 0,
        forks: ForkServer | None = None,
    ) -> None:
        self.root, self.db_url, self.server, self.llm_cache = root, db_url, server, llm_cache
        self.rng = random.Random(seed)
        self.figures = Figures("postgres" if db_url else "sqlite")
        self._events: dict[int, tuple[str, str | None, str, Any]] = {}
        self._evals: dict[str, tuple[str, str, float, int]] = {}
        self._results: set[Key] = set()
        self._script: list[Fault] = []
        self._scratch = root.parent / f"{root.name}-children"  # FIFOs and logs
        self._scratch.mkdir(parents=True, exist_ok=True)
        self._forks, self._own_forks = forks, forks is None
        self._accepting: dict[str, Any] = {}

    def __enter__(self) -> KillLoop:
        with open_workspace(self.root, db=self.db_url) as ws:
            if not len(ws.traces()):
                prepare(ws)
            self._evals = {e.id: _state(e) for e in ws.suite}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if self._forks is not None and self._own_forks:
            self._forks.close()

    def run(self, iterations: int) -> Figures:
        """Run ``iterations`` kill iterations, or fewer: it stops at the first damage found.

        The workloads take turns in a seeded random order, each a third of the iterations.
        """
        started = time.monotonic()
        ops = [OPS[i % len(OPS)] for i in range(iterations)]
        self.rng.shuffle(ops)
        for op in ops:
            self.iteration(op)
            if self.figures.problems:
                break
        self.figures.seconds += time.monotonic() - started
        return self.figures

    # One iteration --------------------------------------------------------------------------

    def iteration(self, op: str) -> None:
        """Fork a child running ``op``, wait for ready, let it work 50-800 ms, kill, check."""
        seed, window = self.rng.randrange(2**31), self.rng.uniform(0.05, 0.8)
        self.server.reset()
        self._script = fault_mix(random.Random(seed), 1000)
        self.server.script(*self._script)
        child = self._fork(op, seed)
        try:
            if not child.wait(60, until_ready=True):
                raise AssertionError(f"child {op} #{child.name} never got ready:\n{child.tail()}")
            self.figures.ready_s.append(time.monotonic() - child.started)
            child.listen(window)
        finally:
            died = child.end(kill=True)
        assert died["signal"] == signal.SIGKILL, f"child {op} ended early:\n{child.tail()}"
        if op == "run":  # the only workload that talks to the server
            self._quiesce()
        self.figures.iterations += 1
        self.figures.kills[op] += 1
        self.check(child.reports.items)

    def check(self, reports: list[dict[str, Any]]) -> None:
        """Take in a dead child's reports, then check the workspace against all reports so far.

        Problems found are counted in :attr:`figures` and listed in ``figures.problems``.
        """
        started = time.monotonic()
        with open_workspace(self.root, db=self.db_url) as ws:  # it opens: the first check
            self._check_events(ws, reports)
            self._check_suite(ws, reports)
            self._check_runs(ws, reports)
        self._check_sqlite_files()
        self.figures.check_s.append(time.monotonic() - started)

    def _fork(self, op: str, seed: int, **extra: Any) -> Child:
        if self._forks is None:
            self._forks = ForkServer(WORKER)
        job = {"op": op, "iteration": self.figures.iterations, "seed": seed,
               "path": str(self.root), "db": self.db_url, "api_base": self.server.api_base,
               "llm_cache": str(self.llm_cache), **extra}  # fmt: skip
        if op == "accept":
            job |= self._templates()
        name = f"{self.figures.iterations:03d}-{op}"
        return Child(self._forks, job, self._scratch / name)

    def _run_to_end(self, op: str, **extra: Any) -> tuple[list[dict[str, Any]], str]:
        """Fork a child that ends by itself; its reports, and what went wrong ('' if nothing)."""
        child = self._fork(op, 0, **extra)
        finished = child.wait(120, until_ready=False)
        died = child.end(kill=not finished)
        failed = "" if died == {"signal": 0, "code": 0} else f"{op} ended {died}:\n{child.tail()}"
        return child.reports.items, failed

    def _templates(self) -> dict[str, Any]:
        """The measured evals for the accept workload (measured by a child, the first time)."""
        if not self._accepting:
            reports, failed = self._run_to_end("measure")
            assert not failed, failed
            self._accepting = {k: v for k, v in reports[-1].items() if k != "kind"}
        return self._accepting

    def _quiesce(self) -> None:
        """Wait until the server has dropped every connection of the dead child.

        Only children talk to the server, so when no connection is left, every request the
        dead child had sent is in the server's record and none can arrive later (and be
        taken for one of the resumed run's). Quiet for 0.1 s: a connection still waiting to
        be accepted would have been by then.
        """
        deadline, quiet_since, seen = time.monotonic() + 10, time.monotonic(), -1
        while time.monotonic() < deadline:
            handlers = [t for t in threading.enumerate() if t.name == "fault-server-connection"]
            busy = self.server.in_flight or any(t.is_alive() for t in handlers)
            if busy or len(self.server.requests) != seen:
                quiet_since, seen = time.monotonic(), len(self.server.requests)
            elif time.monotonic() - quiet_since >= 0.1:
                return
            time.sleep(0.01)
        self._problem("the fault server still serves a dead child after 10 s")

    # Checks ---------------------------------------------------------------------------------

    def _problem(self, text: str) -> None:
        self.figures.problems.append(f"after iteration {self.figures.iterations}: {text}")

    def _check_events(self, ws: Workspace, reports: list[dict[str, Any]]) -> None:
        for r in reports:
            if r["kind"] == "event":
                self._events[r["id"]] = (r["event"], r["trace"], r["who"], r["payload"])
                self.figures.events_acknowledged += 1
        if reports and reports[-1]["kind"] == "begin" and "action" in reports[-1]:
            self.figures.mid_call["tag"] += 1
        history = ws.history()
        stored = {
            int(i): (k, t, a, p)
            for i, k, t, a, p in zip(history["id"], history["kind"], history["trace_id"],
                                     history["annotator"], history["payload"], strict=True)
        }  # fmt: skip
        for event_id, expected in self._events.items():
            if stored.get(event_id) != expected:
                self.figures.events_lost += 1
                self._problem(f"event {event_id} {expected} stored as {stored.get(event_id)}")
        self.figures.lookups += len(self._events)
        ws.failure_modes()  # the log still folds into labels

    def _check_suite(self, ws: Workspace, reports: list[dict[str, Any]]) -> None:
        under_way = None
        for r in reports:
            if r["kind"] == "begin" and "replace" in r:
                under_way = r["id"]
            elif r["kind"] == "eval":
                self._evals[r["id"]] = (r["version"], r["version"], r["threshold"], r["labelled"])
                self.figures.evals_acknowledged += 1
                under_way = None
        if under_way is not None:
            self.figures.mid_call["accept"] += 1
            self.figures.in_file_write += reports[-1]["kind"] == "writing"
            self.figures.after_file_write += reports[-1]["kind"] == "written"
        try:
            suite = load_suite(ws.evals_dir)
        except SuiteFormatError as exc:
            self.figures.half_written += 1
            self._problem(f"the suite does not load: {exc}")
            self._scan_files(ws.evals_dir, None)
            return
        self._scan_files(ws.evals_dir, suite.document)
        loaded = {e.id: e for e in suite.evals}
        if under_way is not None and under_way in loaded:
            now = _state(loaded[under_way])
            self.figures.looks_edited += now[0] != now[1]
            self._evals[under_way] = now  # not acknowledged: old or new, then it must stay
        for eval_id, expected in self._evals.items():
            found = _state(loaded[eval_id]) if eval_id in loaded else None
            if found != expected:
                self.figures.evals_lost += 1
                self._problem(f"eval {eval_id}: acknowledged {expected}, found {found}")
        self.figures.lookups += len(self._evals)

    def _scan_files(self, evals_dir: Path, doc: SuiteDocument | None) -> None:
        """Parse every eval file suite.yaml does not list (load_suite read the others)."""
        if doc is None:
            with contextlib.suppress(SuiteFormatError):  # counted already
                doc = load_document(evals_dir)
        listed = {"suite.yaml", ".gitignore"}
        for entry in doc.evals if doc is not None else []:
            listed.add(entry.file)
            if entry.provenance.labelled_traces is not None:
                listed.add(entry.provenance.labelled_traces.file)
        temps = unlisted = 0
        for path in sorted(p for p in evals_dir.rglob("*") if p.is_file()):
            name = path.relative_to(evals_dir).as_posix()
            if name.startswith(".cache/"):
                continue
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                temps += 1
                continue
            if name in listed:
                continue  # load_suite reads and checks every listed file
            unlisted += 1
            try:
                if name.startswith("assertions/"):
                    parse_assertion(path.read_text("utf-8"), name)
                elif name.startswith("judges/"):
                    parse_judge(path.read_text("utf-8"), name)
            except (SuiteFormatError, UnicodeDecodeError) as exc:
                self.figures.half_written += 1
                self._problem(f"{name} does not parse: {exc}")
        self.figures.temp_files, self.figures.unlisted_files = temps, unlisted

    def _check_runs(self, ws: Workspace, reports: list[dict[str, Any]]) -> None:
        plans = {r["run"]: r for r in reports if r["kind"] == "plan"}
        for r in reports:
            if r["kind"] == "run":
                self._acknowledge(_keys(plans.pop(r["run"])), r["failed"])
        stored = self._stored(ws)
        missing = self._results - stored
        self.figures.results_lost += len(missing)
        if missing:
            self._problem(
                f"{len(missing)} results of finished runs are gone: {sorted(missing)[:3]}"
            )
        self.figures.lookups += len(self._results)
        for plan in plans.values():
            self.figures.mid_call["run"] += 1
            self._resume(plan, stored)

    def _acknowledge(self, keys: set[Key], failed: list[list[Any]]) -> None:
        gone = {(str(e), str(t), int(n)) for t, e, n in failed}
        kept = {k for k in keys if (k[0], k[1], k[3]) not in gone}
        self._results |= kept
        self.figures.results_acknowledged += len(kept)

    def _stored(self, ws: Workspace) -> set[Key]:
        path = ws.evals_dir / ".cache" / "results.sqlite3"
        if not path.exists():
            return set()
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT eval, trace_id, model, repeat FROM results").fetchall()
        db.close()
        return {(str(e), str(t), str(m), int(r)) for e, t, m, r in rows}

    def _resume(self, plan: dict[str, Any], stored: set[Key]) -> None:
        """Run a killed run again in a fresh child; count requests for results it had."""
        before = {k for k in _keys(plan) if k in stored}
        mark = len(self.server.requests)
        reports, failed = self._run_to_end("resume", plan=plan)
        resumed = [r for r in reports if r["kind"] == "resumed"]
        if failed or not resumed:
            self._problem(f"the resumed run failed: {failed}")
            return
        asked: Counter[tuple[str, str]] = Counter()
        alias = plan["model"].split("/", 1)[1]
        for index in range(mark, len(self.server.requests)):
            request = self.server.requests[index]
            fault = self._script[index] if index < len(self._script) else ok()
            if fault.kind in ("ok", "slow") and request.body.get("model") == alias:
                asked[_request_key(request.body)] += 1
        for eval_id, trace in {(k[0], k[1]) for k in _keys(plan)}:
            had = sum(1 for k in before if k[0] == eval_id and k[1] == trace)
            excess = asked[(eval_id, trace)] - (plan["repeats"] - had)
            if excess > 0:
                self.figures.repeated_calls += excess
                self._problem(f"resume asked {eval_id} on {trace} {excess} time(s) too often")
        if resumed[0]["cached"] < len(before):
            self._problem(f"resume reused {resumed[0]['cached']} of {len(before)} results")
        self._acknowledge(_keys(plan), resumed[0]["failed"])
        self.figures.runs_resumed += 1
        self.figures.stored_before_resume += len(before)
        self.figures.calls_on_resume += sum(asked.values())

    def _check_sqlite_files(self) -> None:
        files = [self.root / "evals" / ".cache" / "results.sqlite3"]
        files += [self.root / "workbench.db"] if self.db_url is None else []
        for path in files:
            if path.exists():
                with sqlite3.connect(path) as db:
                    verdict = db.execute("PRAGMA quick_check").fetchone()[0]
                db.close()
                if verdict != "ok":
                    self.figures.half_written += 1
                    self._problem(f"{path.name}: quick_check says {verdict}")


def _state(record: Any) -> tuple[str, str, float, int]:
    """What is checked of an eval: accepted version, file version, threshold, labelled ids."""
    labelled = len(record.candidate.provenance.labelled_trace_ids)
    return (record.accepted_version, record.version, record.threshold, labelled)


def _keys(plan: dict[str, Any]) -> set[Key]:
    judges = [e for e in plan["evals"] if e in JUDGES]
    return {
        (e, t, plan["model"], n)
        for e in judges
        for t in plan["ids"]
        for n in range(plan["repeats"])
    }


def _request_key(body: dict[str, Any]) -> tuple[str, str]:
    text = str(body["messages"][-1]["content"])
    found_eval, found_trace = _EVAL.search(text), _QUESTION.search(text)
    assert found_eval and found_trace, f"a request of unknown origin: {text[:200]!r}"
    return found_eval.group(1), f"t{int(found_trace.group(1)):03d}"
