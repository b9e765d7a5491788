"""Measure suite runs: assertion checks per second, and judge calls per second against a server.

Usage:
    python benchmarks/bench_suite.py                     # 100k traces; concurrency 8, 32, 128
    python benchmarks/bench_suite.py --traces 20000 --levels 8 32

What is timed:
    assertions  Suite.run over N traces (the sample traces repeated, fresh ids) with four typed
                assertions (regex and max_length on the replies, valid JSON tool arguments,
                contains on the output), in this process (workers=1) and with the default
                process pool; reported as checks (traces x evals) per second.
    python      one sandboxed python check over min(N, 20k) traces (one worker process).
    judges      Suite.run of one judge over fresh traces against a local OpenAI-compatible
                server (aiohttp, in its own process, on 127.0.0.1) that answers every request
                after a fixed 200 ms; for each concurrency c, 10 x c calls. The ideal rate is
                c / 0.2 s; the table gives the rate reached and its fraction of the ideal.
                Each call goes through the whole path: the LLM door (litellm, its cache
                written), verdict parsing, and the result stored in the suite's SQLite cache.
    door alone  the same number of calls through llm.complete_many at the same concurrency,
                for comparison: what the LLM door reaches without the suite around it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import llm
from workbench.evalgen.candidate import Candidate, Provenance
from workbench.suite import Suite
from workbench.traces import load_traces

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "traces.jsonl"
LATENCY_S = 0.2
ANSWER = "The reply answers the question.\nVERDICT: PASS"
PROVENANCE = Provenance("bench", "bench", "2026-11-20T00:00:00Z")
ASSERTIONS = {
    "leak": {"type": "regex", "field": "replies", "value": r"cust_int_\d+", "negate": True},
    "short": {"type": "max_length", "field": "replies", "value": 900},
    "args": {"type": "json_valid", "field": "tool_args"},
    "sorry": {"type": "contains", "value": ["sorry", "apolog"], "negate": True},
}
PYTHON = "def check(trace):\n    return len(trace['output'] or '') < 900\n"


def many_traces(count: int, prefix: str = "b", *, unique: bool = False) -> pd.DataFrame:
    """The sample traces repeated to ``count`` rows, with fresh ids.

    ``unique`` also puts the id into every user message, so no two traces give the same
    judge prompt (the LLM door's response cache would answer repeats without a request).
    """
    sample = load_traces(str(SAMPLE))
    frame = pd.concat([sample] * (count // len(sample) + 1), ignore_index=True).head(count)
    frame["trace_id"] = [f"{prefix}{i:07d}" for i in range(count)]
    if unique:
        frame["messages"] = [
            [{**m, "content": f"[{tid}] {m['content']}"} if m["role"] == "user" else m for m in ms]
            for tid, ms in zip(frame["trace_id"], frame["messages"], strict=True)
        ]
    return frame


def bench_assertions(traces: pd.DataFrame, folder: Path) -> None:
    suite = Suite(folder / "assertions")
    for eval_id, spec in ASSERTIONS.items():
        suite.add(Candidate(eval_id, "assertion", spec, "", PROVENANCE))
    checks = len(traces) * len(ASSERTIONS)
    for label, workers in (("in process", 1), ("process pool", None)):
        started = time.perf_counter()
        suite.run(traces, progress=False, workers=workers)
        seconds = time.perf_counter() - started
        print(
            f"assertions  {label:<12} {len(traces):>7,} traces x {len(ASSERTIONS)} evals: "
            f"{seconds:6.2f} s  {checks / seconds:>9,.0f} checks/s"
        )
    python = Suite(folder / "python")
    python.add(Candidate("py", "assertion", {"type": "python", "value": PYTHON}, "", PROVENANCE))
    sample = traces.head(20_000)
    started = time.perf_counter()
    python.run(sample, progress=False)
    seconds = time.perf_counter() - started
    print(
        f"python      sandboxed    {len(sample):>7,} traces x 1 eval:  "
        f"{seconds:6.2f} s  {len(sample) / seconds:>9,.0f} checks/s"
    )


def _serve(conn: Connection) -> None:
    """In the server process: answer every chat request after LATENCY_S, until told to stop."""
    import asyncio

    from aiohttp import web

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(LATENCY_S)
        return web.json_response(
            {
                "id": "bench",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "bench"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": ANSWER},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59},
            }
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        conn.send(port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # the stop signal
        await runner.cleanup()

    asyncio.run(main())


def _line(what: str, level: int, calls: int, seconds: float) -> None:
    rate, ideal = calls / seconds, level / LATENCY_S
    print(
        f"{what:<11} concurrency {level:>4}: {calls:>5} calls in {seconds:6.2f} s "
        f"= {rate:7.1f} calls/s; ideal {ideal:6.1f}/s; {rate / ideal:5.1%} of ideal"
    )


def bench_judges(levels: list[int], folder: Path) -> None:
    receive, send = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(send,), daemon=True)
    server.start()
    try:
        port = receive.recv()
        llm.configure(
            model="openai/bench-judge",
            api_base=f"http://127.0.0.1:{port}/v1",
            cache_dir=folder / "llm-cache",
            timeout=60.0,
        )
        spec = {"type": "judge", "prompt": "Judge:\n$trace\n", "model": "openai/bench-judge"}
        suite = Suite(folder / "judges")
        suite.add(Candidate("judge", "judge", spec, "", PROVENANCE))
        warm = many_traces(16, prefix="w", unique=True)
        llm.configure(max_concurrency=8)
        suite.run(warm, progress=False)  # imports litellm and opens connections
        for level in levels:
            llm.configure(max_concurrency=level)
            traces = many_traces(10 * level, prefix=f"c{level}-", unique=True)
            started = time.perf_counter()
            results = suite.run(traces, progress=False)
            seconds = time.perf_counter() - started
            assert results["passed"].all(), results["reason"].head()
            _line("judges", level, len(traces), seconds)
            prompts = [f"[door {level}-{i}] Judge this reply." for i in range(10 * level)]
            started = time.perf_counter()
            llm.complete_many(prompts, cache=False, progress=False)
            _line("door alone", level, len(prompts), time.perf_counter() - started)
    finally:
        receive.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000, help="traces for assertions")
    parser.add_argument("--levels", type=int, nargs="+", default=[8, 32, 128])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_assertions(many_traces(args.traces), folder)
        bench_judges(args.levels, folder)


if __name__ == "__main__":
    main()
