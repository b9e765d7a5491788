"""Run the source of a ``python`` check without trusting it.

A ``python`` spec holds the source of ``def check(trace: dict) -> bool`` written by a person
or drafted by an LLM. It passes four gates, in this order:

1. **Static check** (:func:`check_source`, in the calling process; nothing is executed):
   only ``import`` of :data:`ALLOWED_MODULES`; no name or attribute that starts with ``_``,
   also when imported by name or read by a ``case C(attr=x)`` pattern; no string constant
   containing ``__``; no I/O or introspection builtins (``open``,
   ``exec``, ``eval``, ``getattr``, ``type`` ...); no ``global``/``nonlocal``, classes,
   ``async``, ``yield``, ``with``, bare ``except`` or ``except BaseException``; no
   attributes that reach frames or code (``gi_frame``, ``f_globals``, ``tb_frame``,
   ``format`` ...); a top-level ``check`` with one argument.
2. **Restricted namespace**: the code is executed with a small set of builtins, and an
   import returns a copy of the module's public functions and classes only (no submodules,
   so ``json.codecs.open`` does not exist).
3. **Separate process**: the checks run in a fresh ``python -I -S`` running this file (standard
   library only, no site-packages, an empty environment, 1 GiB of address space), never in
   the notebook's interpreter; traces go in and verdicts come out as JSON over pipes.
4. **Time limits**: each trace gets ``time_limit_s`` (an interval timer in the worker raises
   a ``BaseException`` the check cannot catch); the whole batch gets a deadline after which
   the worker is killed, which also stops code stuck inside C (``10 ** 10 ** 9``). Traces
   not graded in time come back as ungraded, with the reason.

A check returns ``True`` when the failure is absent, or a ``(bool, reason)`` pair.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

ALLOWED_MODULES: Final = frozenset(
    {"re", "json", "math", "string", "collections", "itertools", "datetime", "unicodedata"}
)
"""Modules a check may import."""

MAX_SOURCE_CHARS: Final = 20_000
"""Longer sources are refused."""

MEMORY_LIMIT_BYTES: Final = 1 << 30
"""Address space of the worker process (POSIX)."""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SAFE_BUILTINS: Final = _words(
    "abs all any bool chr dict divmod enumerate filter float frozenset int isinstance "
    "issubclass len list map max min ord pow range repr reversed round set slice sorted str "
    "sum tuple zip Exception ArithmeticError AssertionError IndexError KeyError LookupError "
    "TypeError ValueError ZeroDivisionError"
)
_FORBIDDEN_NAMES: Final = _words(
    "eval exec compile open input print globals locals vars getattr setattr delattr hasattr "
    "dir type object super memoryview breakpoint help exit quit id classmethod staticmethod "
    "property BaseException SystemExit KeyboardInterrupt GeneratorExit"
)
_FORBIDDEN_ATTRS: Final = _words("format format_map vformat get_field mro Formatter")
_FORBIDDEN_ATTR_PREFIXES: Final = ("_", "gi_", "cr_", "ag_", "f_", "tb_", "co_", "func_")
_FORBIDDEN_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Global: "'global'",
    ast.Nonlocal: "'nonlocal'",
    ast.ClassDef: "class definitions",
    ast.AsyncFunctionDef: "async functions",
    ast.Await: "'await'",
    ast.AsyncFor: "'async for'",
    ast.AsyncWith: "'async with'",
    ast.Yield: "'yield'",
    ast.YieldFrom: "'yield from'",
    ast.With: "'with'",
}
_TOP_LEVEL: Final = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.AnnAssign)


class UnsafeCheckError(ValueError):
    """The source of a python check was refused by the static check; nothing was run."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"refused python check: {reason}{where}")
        self.reason = reason
        """What was refused."""
        self.line = line
        """The offending line, when there is one."""


def check_source(source: str, *, standalone: bool = False) -> ast.Module:
    r"""Parse the source of a check and refuse anything outside the allowed subset.

    Args:
        source: the source defining ``check(trace)``.
        standalone: the check will also run outside the sandbox (an assertion file, which
            pytest, promptfoo and Inspect run as it is): refuse, too, what only the
            sandbox's namespace takes away, i.e. the modules that the allowed modules
            hold (``datetime.sys``, ``json.codecs``).

    Returns:
        The parsed module.

    Raises:
        UnsafeCheckError: naming what was refused and on which line.

    Examples:
        >>> _ = check_source("import re\ndef check(trace):\n    return 'x' in trace['output']")
        >>> check_source("import os\ndef check(trace):\n    return True")
        Traceback (most recent call last):
        ...
        workbench.evalgen.sandbox.UnsafeCheckError: refused python check: import of 'os' ...
    """
    if not isinstance(source, str):
        raise UnsafeCheckError(f"the source must be a str, got {type(source).__name__}")
    if len(source) > MAX_SOURCE_CHARS:
        raise UnsafeCheckError(f"{len(source)} characters; the limit is {MAX_SOURCE_CHARS}")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise UnsafeCheckError(f"not valid Python: {exc.msg}", exc.lineno) from exc
    for statement in tree.body:
        if not isinstance(statement, _TOP_LEVEL) and not _is_docstring(statement):
            raise UnsafeCheckError(
                "only imports, assignments and function definitions may stand at the top level",
                statement.lineno,
            )
    for node in ast.walk(tree):
        problem = _problem(node) or (_outside_problem(node) if standalone else None)
        if problem:
            raise UnsafeCheckError(problem, getattr(node, "lineno", None))
    _require_check_function(tree)
    return tree


@functools.cache
def _module_names() -> frozenset[str]:
    """Names under which the allowed modules hold other modules (``json.codecs``)."""
    found: set[str] = set()
    for name in ALLOWED_MODULES:
        module = importlib.import_module(name)
        found.update(k for k, v in vars(module).items() if isinstance(v, types.ModuleType))
    return frozenset(found)


def _outside_problem(node: ast.AST) -> str | None:
    """What would reach past the allowed modules when the check runs outside the sandbox."""
    names = [node.attr] if isinstance(node, ast.Attribute) else []
    if isinstance(node, ast.ImportFrom):
        names = [alias.name for alias in node.names]
    reached = [name for name in names if name in _module_names()]
    if reached:
        return f"{reached[0]!r} is a module held by an allowed module; it is not allowed"
    return None


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _problem(node: ast.AST) -> str | None:
    """What is wrong with one node, or None."""
    if type(node) in _FORBIDDEN_NODES:
        return f"{_FORBIDDEN_NODES[type(node)]} is not allowed"
    if isinstance(node, ast.Import | ast.ImportFrom):
        return _import_problem(node)
    if isinstance(node, ast.Name) and (node.id.startswith("_") or node.id in _FORBIDDEN_NAMES):
        return f"the name {node.id!r} is not allowed"
    if isinstance(node, ast.Attribute) and (
        node.attr.startswith(_FORBIDDEN_ATTR_PREFIXES) or node.attr in _FORBIDDEN_ATTRS
    ):
        return f"the attribute {node.attr!r} is not allowed"
    if isinstance(node, ast.MatchClass):  # `case C(attr=x)` reads attributes by name
        for attr in node.kwd_attrs:
            if attr.startswith(_FORBIDDEN_ATTR_PREFIXES) or attr in _FORBIDDEN_ATTRS:
                return f"the attribute {attr!r} is not allowed (in a class pattern)"
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
        return "strings containing '__' are not allowed"
    if isinstance(node, ast.ExceptHandler) and node.type is None:
        return "a bare 'except:' is not allowed; catch Exception or a narrower error"
    if isinstance(node, ast.arg | ast.FunctionDef) and _name_of(node).startswith("_"):
        return f"the name {_name_of(node)!r} is not allowed"
    return None


def _name_of(node: ast.arg | ast.FunctionDef) -> str:
    return node.arg if isinstance(node, ast.arg) else node.name


def _import_problem(node: ast.Import | ast.ImportFrom) -> str | None:
    allowed = ", ".join(sorted(ALLOWED_MODULES))
    if isinstance(node, ast.ImportFrom):
        names = [node.module or ""] if node.level == 0 else ["." * node.level]
        if any(alias.name == "*" for alias in node.names):
            return "'from ... import *' is not allowed"
        hidden = [
            a.name for a in node.names if a.name.startswith("_") or a.name in _FORBIDDEN_ATTRS
        ]
        if hidden:
            return f"importing {hidden[0]!r} is not allowed"
    else:
        names = [alias.name for alias in node.names]
    for name in names:
        if name not in ALLOWED_MODULES:
            return f"import of {name!r} is not allowed; allowed: {allowed}"
    return None


def _require_check_function(tree: ast.Module) -> None:
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == "check":
            params = statement.args
            if len(params.posonlyargs) + len(params.args) == 1 and not (
                params.vararg or params.kwarg or params.kwonlyargs
            ):
                return
            raise UnsafeCheckError("check must take exactly one argument, the trace")
    raise UnsafeCheckError("the source must define a top-level function `check(trace)`")


# ---------------------------------------------------------------- inside the worker


class _TimeUp(BaseException):
    """Raised by the interval timer; a BaseException, so ``except Exception`` can't catch it."""


def _public_copy(module: types.ModuleType) -> types.SimpleNamespace:
    public = {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.pop("Formatter", None)  # formats can read attributes by name
    return types.SimpleNamespace(**public)


def _guarded_import(
    name: str,
    globals: Mapping[str, Any] | None = None,
    locals: Mapping[str, Any] | None = None,
    fromlist: Sequence[str] | None = (),
    level: int = 0,
) -> types.SimpleNamespace:
    if level != 0 or name not in ALLOWED_MODULES:
        raise ImportError(f"import of {name!r} is not allowed in a check")
    return _public_copy(__import__(name))


def _namespace() -> dict[str, Any]:
    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTINS}
    safe["__import__"] = _guarded_import
    return {"__builtins__": safe, "__name__": "workbench_check"}


def _load(source: str) -> Any:
    code = compile(check_source(source), "<check>", "exec")
    namespace = _namespace()
    exec(code, namespace)  # the gated, restricted code, inside the worker process
    return namespace["check"]


def _grade(check: Any, trace: dict[str, Any], limit_s: float) -> tuple[bool | None, str]:
    signal.setitimer(signal.ITIMER_REAL, limit_s, limit_s)
    try:
        value = check(trace)
    except _TimeUp:
        return None, f"timed out after {limit_s:g}s"
    except Exception as exc:  # the check's own error: this trace is ungraded, with the reason
        return None, f"check raised {type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if isinstance(value, bool):
        return value, ""
    pair_ok = isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], bool)
    if pair_ok:
        return value[0], str(value[1])
    return None, f"check returned {type(value).__name__}, not a bool"


def _on_alarm(signum: int, frame: Any) -> None:
    raise _TimeUp


def _worker() -> None:
    """Entry point of the worker process (``python -I -S sandbox.py``).

    Reads ``{"source", "limit_s", "traces"}`` as JSON from stdin and writes one JSON line per
    trace to stdout, in order: ``{"passed": bool | null, "reason": str}``, or one
    ``{"load": reason}`` line when the source can not be loaded.
    """
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the answers
    job = json.loads(sys.stdin.buffer.read())
    limit_s = float(job["limit_s"])
    _limit_memory()

    def answer(message: dict[str, Any]) -> None:
        out.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
        out.flush()

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit_s, limit_s)
    try:
        check = _load(str(job["source"]))
    except _TimeUp:
        return answer({"load": f"loading the check timed out after {limit_s:g}s"})
    except Exception as exc:
        return answer({"load": f"loading the check failed: {type(exc).__name__}: {exc}"})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    for trace in job["traces"]:
        try:
            passed, reason = _grade(check, trace, limit_s)
        except _TimeUp:  # the timer fired again while the first one was being handled
            signal.setitimer(signal.ITIMER_REAL, 0)
            passed, reason = None, f"timed out after {limit_s:g}s"
        answer({"passed": passed, "reason": reason})
    return None


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the batch deadline still applies
        return
    limit = MEMORY_LIMIT_BYTES
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# ---------------------------------------------------------------- in the caller


def run_python(
    source: str,
    traces: Sequence[dict[str, Any]],
    *,
    time_limit_s: float = 1.0,
    grace_s: float = 10.0,
) -> list[tuple[bool | None, str]]:
    r"""Grade traces with a python check in a worker process, within time limits.

    Args:
        source: the source defining ``check(trace)``.
        traces: plain trace records (see :func:`workbench.evalgen.fields.records`).
        time_limit_s: the budget of each trace (and of loading the source).
        grace_s: extra seconds for starting the worker before the batch deadline.

    Returns:
        ``(passed, reason)`` per trace, in order; ``passed`` is None where ungraded.

    Raises:
        UnsafeCheckError: the source was refused; no process was started.

    Examples:
        >>> source = "def check(trace):\n    return len(trace['output']) < 5"
        >>> run_python(source, [{"output": "hi"}, {"output": "hello"}])
        [(True, ''), (False, '')]
    """
    check_source(source)
    if not traces:
        return []
    if not hasattr(signal, "setitimer"):
        raise NotImplementedError("python checks need interval timers (a POSIX system)")
    job = json.dumps({"source": source, "limit_s": time_limit_s, "traces": list(traces)})
    with tempfile.TemporaryFile() as errors:
        worker = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={},
        )
        lines, reader = _reader(worker)
        deadline = time.monotonic() + grace_s + time_limit_s * (len(traces) + 1)
        try:
            _feed(worker, job.encode("utf-8"))
            results, why = _collect(lines, len(traces), deadline)
        finally:
            worker.kill()
            worker.wait(timeout=10)
            reader.join(timeout=10)  # it closes stdout at EOF
            if worker.stdin is not None and not worker.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    worker.stdin.close()
        if why == "the worker process ended early":
            errors.seek(0)
            tail = errors.read()[-400:].decode("utf-8", "replace").strip()
            why += f" ({tail.splitlines()[-1]})" if tail else ""
    return results + [(None, why)] * (len(traces) - len(results))


def _feed(worker: subprocess.Popen[bytes], data: bytes) -> None:
    assert worker.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # it died early: _collect reports that
        worker.stdin.write(data)
        worker.stdin.close()


def _reader(
    worker: subprocess.Popen[bytes],
) -> tuple[queue.Queue[bytes | None], threading.Thread]:
    """Lines of the worker's stdout, read in a thread so the caller can wait with a deadline."""
    lines: queue.Queue[bytes | None] = queue.Queue()
    stdout = worker.stdout
    assert stdout is not None

    def pump() -> None:
        with stdout:
            for line in stdout:
                lines.put(line)
        lines.put(None)

    thread = threading.Thread(target=pump, name="workbench-check-reader", daemon=True)
    thread.start()
    return lines, thread


def _collect(
    lines: queue.Queue[bytes | None], expected: int, deadline: float
) -> tuple[list[tuple[bool | None, str]], str]:
    results: list[tuple[bool | None, str]] = []
    while len(results) < expected:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return results, "stopped: the batch ran past its deadline"
        if line is None:
            return results, "the worker process ended early"
        message = json.loads(line)
        if "load" in message:
            return results, str(message["load"])
        passed = message["passed"]
        results.append((passed if isinstance(passed, bool) else None, str(message["reason"])))
    return results, ""


if __name__ == "__main__":
    _worker()
