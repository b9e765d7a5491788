"""Compiling and running checks: typed specs, trace fields, and the python sandbox."""

from __future__ import annotations

import doctest
import importlib
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from workbench.evalgen import runtime
from workbench.evalgen.candidate import Candidate, Provenance
from workbench.evalgen.fields import detect_language, plain, records, texts
from workbench.evalgen.runtime import CheckError, PythonCheck, compile_check
from workbench.evalgen.sandbox import UnsafeCheckError, check_source, run_python


def _trace(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"trace_id": "t1", "input": "", "output": "", "messages": None}
    return {**base, **fields}


def _messages(*calls: tuple[str, str], reply: str = "done") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "user", "content": "where is my order?"}]
    for i, (name, arguments) in enumerate(calls):
        call = {
            "id": f"c{i}",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        out.append({"role": "tool", "tool_call_id": f"c{i}", "content": '{"ok": true}'})
    out.append({"role": "assistant", "content": reply})
    return out


def _candidate(spec: dict[str, Any], kind: str = "assertion") -> Candidate:
    return Candidate("c", kind, spec, "", Provenance("mode", "test", ""))  # type: ignore[arg-type]


# ---------------------------------------------------------------- typed specs


@pytest.mark.parametrize(
    ("spec", "output", "expected"),
    [
        ({"type": "contains", "value": "Refund"}, "your refund is on its way", True),
        ({"type": "contains", "value": "Refund", "case_sensitive": True}, "a refund", False),
        ({"type": "contains", "value": ["x", "way"]}, "on its way", True),
        ({"type": "contains", "value": "way", "negate": True}, "on its way", False),
        ({"type": "regex", "value": r"cust_int_\d+"}, "id cust_int_123", True),
        ({"type": "regex", "value": "REFUND", "flags": "i"}, "refund", True),
        ({"type": "regex", "value": r"\d", "negate": True}, "no digits", True),
        ({"type": "max_length", "value": 3}, "abcd", False),
        ({"type": "min_length", "value": 3}, "abcd", True),
        ({"type": "json_valid"}, '{"a": 1}', True),
        ({"type": "json_valid"}, "```json\n{}\n```", False),
    ],
)
def test_typed_specs_on_the_output(spec: dict[str, Any], output: str, expected: bool) -> None:
    assert compile_check(spec)(_trace(output=output)) is expected


def test_replies_field_reads_every_assistant_message() -> None:
    trace = _trace(output="thanks!", messages=_messages(reply="x" * 50))
    assert compile_check({"type": "max_length", "field": "output", "value": 10})(trace)
    assert not compile_check({"type": "max_length", "field": "replies", "value": 10})(trace)


def test_json_valid_on_tool_arguments() -> None:
    good = _trace(messages=_messages(("lookup_order", '{"order_id": "NW-1"}')))
    bad = _trace(messages=_messages(("lookup_order", "{'order_id': 'NW-1'}")))
    check = compile_check({"type": "json_valid", "field": "tool_args"})
    assert check(good) and not check(bad)


def test_tool_specs() -> None:
    trace = _trace(messages=_messages(("get_tracking", "{}"), ("lookup_order", "{}")))
    assert compile_check({"type": "tool_called"})(trace)
    assert not compile_check({"type": "tool_called"})(_trace(messages=_messages()))
    assert compile_check({"type": "tool_called", "value": ["x", "lookup_order"]})(trace)
    assert not compile_check({"type": "tool_not_called", "value": "get_tracking"})(trace)
    assert not compile_check({"type": "tool_order", "value": ["lookup_order", "get_tracking"]})(
        trace
    )
    assert compile_check({"type": "tool_order", "value": ["get_tracking", "lookup_order"]})(trace)


def test_when_condition_makes_a_check_pass_where_it_does_not_apply() -> None:
    spec = {
        "type": "tool_called",
        "value": "lookup_order",
        "when": {"type": "regex", "field": "input", "value": "order", "flags": "i"},
    }
    check = compile_check(spec)
    assert check(_trace(input="What sizes do you have?"))
    assert not check(_trace(input="Where is my ORDER?"))


def test_language_spec() -> None:
    spanish_user = [{"role": "user", "content": "Hola, ¿dónde está mi pedido? Gracias"}]
    english = [*spanish_user, {"role": "assistant", "content": "Your order is on its way."}]
    spanish = [*spanish_user, {"role": "assistant", "content": "Su pedido está en camino, gracias"}]
    check = compile_check({"type": "language", "field": "replies", "match": "user"})
    assert not check(_trace(messages=english))
    assert check(_trace(messages=spanish))
    assert compile_check({"type": "language", "value": "es"})(_trace(messages=spanish))
    with pytest.raises(ValueError, match="either value"):
        compile_check({"type": "language"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "nope"}, "unknown check type 'nope'"),
        ({"type": "contains"}, r"missing key\(s\) \['value'\]"),
        ({"type": "contains", "value": "x", "colour": 1}, r"unexpected key\(s\) \['colour'\]"),
        ({"type": "contains", "value": "x", "field": "body"}, "unknown field 'body'"),
        ({"type": "regex", "value": "("}, "invalid pattern"),
        ({"type": "regex", "value": "x", "flags": "q"}, "flags"),
        ({"type": "max_length", "value": -1}, "int >= 0"),
        ({"type": "tool_order", "value": ["a"]}, "first, then"),
        ({"type": "contains", "value": []}, "non-empty list"),
        ({"type": "judge", "prompt": "x"}, "judge specs call a model"),
    ],
)
def test_bad_specs_are_named(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_check(spec)


def test_source_of_typed_python_and_judge() -> None:
    regex = _candidate({"type": "regex", "field": "replies", "value": "WH\\d", "negate": True})
    assert regex.source.startswith("passes when no text of replies matches")
    assert '"type": "regex"' in regex.source
    python = _candidate({"type": "python", "value": "def check(trace):\n    return True\n"})
    assert python.source == "def check(trace):\n    return True\n"
    assert _candidate({"type": "judge", "prompt": "P $trace"}, "judge").source == "P $trace"


# ---------------------------------------------------------------- fields and running


def test_records_are_plain_and_read_tool_calls_from_messages() -> None:
    frame = pd.DataFrame(
        {
            "trace_id": ["a"],
            "input": ["hi"],
            "output": [float("nan")],
            "messages": [_messages(("lookup_order", '{"order_id": 1}'))],
            "timestamp": [pd.Timestamp("2026-11-02T10:00", tz="UTC")],
        }
    )
    (record,) = records(frame)
    assert record["output"] is None
    assert record["timestamp"] == "2026-11-02T10:00:00+00:00"
    assert record["tool_calls"] == [
        {
            "id": "c0",
            "name": "lookup_order",
            "arguments": '{"order_id": 1}',
            "result": '{"ok": true}',
        }
    ]
    assert texts(record, "tool_names") == ["lookup_order"]
    assert texts(record, "user") == ["where is my order?"]
    with pytest.raises(ValueError, match="unknown trace field 'nope'"):
        texts(record, "nope")


def test_plain_handles_numpy_and_na() -> None:
    import numpy as np

    assert plain({"a": np.int64(3), "b": pd.NA, "c": (1, 2), 4: np.array([1.5])}) == {
        "a": 3,
        "b": None,
        "c": [1, 2],
        "4": [1.5],
    }


def test_detect_language() -> None:
    assert detect_language("Ich möchte die Jacke zurückschicken, bitte") == "de"
    assert detect_language("Bonjour, où est ma commande ? Merci") == "fr"
    assert detect_language("Where is my order? Thanks") == "en"
    assert detect_language("") is None
    assert detect_language("OK 👍") is None


def test_run_candidate_marks_errors_ungraded() -> None:
    frame = pd.DataFrame(
        {"trace_id": ["a", "b"], "input": ["", ""], "output": ["x", "y"], "messages": [None, None]}
    )
    result = runtime.run_with_reasons(_candidate({"type": "contains", "value": "x"}), frame)
    assert result["passed"].tolist() == [True, False]
    with pytest.raises(ValueError, match="no trace_id column"):
        runtime.run_candidate(
            _candidate({"type": "contains", "value": "x"}), frame.drop(columns="trace_id")
        )


# ---------------------------------------------------------------- the sandbox

HOSTILE = {
    "import os": "import os\ndef check(trace):\n    return True\n",
    "import subprocess": "import subprocess\ndef check(trace):\n    return True\n",
    "from os import": "from os import system\ndef check(trace):\n    return True\n",
    "dotted import": "import json.decoder\ndef check(trace):\n    return True\n",
    "relative import": "from . import x\ndef check(trace):\n    return True\n",
    "__import__": "def check(trace):\n    __import__('os').system('true')\n    return True\n",
    "class bases": "def check(trace):\n    return ().__class__.__bases__ is None\n",
    "open": "def check(trace):\n    return open('/etc/passwd').read() == ''\n",
    "eval": "def check(trace):\n    return eval('1') == 1\n",
    "exec": "def check(trace):\n    exec('x = 1')\n    return True\n",
    "getattr": "def check(trace):\n    return getattr(trace, 'get') is None\n",
    "globals": "def check(trace):\n    return 'os' in globals()\n",
    "format attribute": "def check(trace):\n    return '{0.real}'.format(1) == ''\n",
    "dunder string": "def check(trace):\n    return trace['__class__'] is None\n",
    "generator frame": "def check(trace):\n    return (x for x in ()).gi_frame is None\n",
    "global": "X = 1\ndef check(trace):\n    global X\n    return True\n",
    "nonlocal": "def check(trace):\n    y = 1\n    def f():\n        nonlocal y\n    return True\n",
    "class": "class A:\n    pass\ndef check(trace):\n    return True\n",
    "bare except": "def check(t):\n    try:\n        x = 1\n    except:\n        x = 2",
    "BaseException": (
        "def check(trace):\n    try:\n        x = 1\n    except BaseException:\n        x = 2\n"
    ),
    "top-level loop": "while True:\n    pass\ndef check(trace):\n    return True\n",
    "no check": "def test(trace):\n    return True\n",
    "two arguments": "def check(trace, other):\n    return True\n",
    "syntax": "def check(trace)\n    return True\n",
    "private name": "def check(trace):\n    _x = 1\n    return True\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_source_is_refused_before_anything_runs(name: str) -> None:
    with pytest.raises(UnsafeCheckError, match="refused python check"):
        check_source(HOSTILE[name])
    with pytest.raises(UnsafeCheckError):
        compile_check({"type": "python", "value": HOSTILE[name]})


def test_refusal_names_the_line() -> None:
    with pytest.raises(UnsafeCheckError, match=r"import of 'os' is not allowed.*\(line 2\)"):
        check_source("import re\nimport os\ndef check(trace):\n    return True\n")


def test_oversized_source_is_refused() -> None:
    with pytest.raises(UnsafeCheckError, match="characters; the limit"):
        check_source("def check(trace):\n    return True\n" + "#" * 30_000)


def test_a_good_python_check_runs_in_the_worker() -> None:
    source = (
        "import json\n"
        "def check(trace):\n"
        "    for call in trace['tool_calls']:\n"
        "        try:\n"
        "            json.loads(call['arguments'])\n"
        "        except ValueError:\n"
        "            return False, 'bad arguments in ' + call['name']\n"
        "    return True\n"
    )
    good = _trace(messages=_messages(("lookup_order", "{}")))
    bad = _trace(messages=_messages(("lookup_order", "{")))
    results = PythonCheck(source).many(records(pd.DataFrame([good, bad])))
    assert results == [(True, ""), (False, "bad arguments in lookup_order")]
    assert PythonCheck(source)(records(pd.DataFrame([good]))[0]) is True


def test_modules_are_public_copies_without_submodules() -> None:
    source = "import json\ndef check(trace):\n    return json.codecs is None\n"
    ((passed, reason),) = run_python(source, [{}])
    assert passed is None
    assert "AttributeError" in reason and "codecs" in reason


def test_errors_and_non_bool_results_are_ungraded_with_a_reason() -> None:
    raising = "def check(trace):\n    return trace['missing']\n"
    wrong = "def check(trace):\n    return 1\n"
    assert run_python(raising, [{}]) == [(None, "check raised KeyError: 'missing'")]
    assert run_python(wrong, [{}]) == [(None, "check returned int, not a bool")]
    with pytest.raises(CheckError, match="KeyError"):
        PythonCheck(raising)({})


def test_infinite_loop_is_stopped_by_the_time_limit() -> None:
    source = "def check(trace):\n    while True:\n        pass\n"
    start = time.monotonic()
    results = run_python(source, [{}, {}], time_limit_s=0.2)
    assert results == [(None, "timed out after 0.2s")] * 2
    assert time.monotonic() - start < 5


def test_loop_that_swallows_exceptions_is_still_stopped() -> None:
    source = (
        "def check(trace):\n"
        "    while True:\n"
        "        try:\n"
        "            while True:\n"
        "                pass\n"
        "        except Exception:\n"
        "            pass\n"
    )
    assert run_python(source, [{}], time_limit_s=0.2) == [(None, "timed out after 0.2s")]


def test_code_stuck_in_c_is_killed_at_the_batch_deadline() -> None:
    source = (
        "import collections, itertools\n"
        "def check(trace):\n"
        "    collections.deque(itertools.count(), maxlen=0)\n"
        "    return True\n"
    )
    start = time.monotonic()
    results = run_python(source, [{}, {}], time_limit_s=0.2, grace_s=0.5)
    assert results == [(None, "stopped: the batch ran past its deadline")] * 2
    assert time.monotonic() - start < 5


def test_memory_is_limited() -> None:
    source = "def check(trace):\n    return len('x' * (10 ** 10)) > 0\n"
    ((passed, reason),) = run_python(source, [{}])
    assert passed is None and "MemoryError" in reason


def test_python_candidate_runs_through_run_candidate() -> None:
    frame = pd.DataFrame(
        {"trace_id": ["a", "b"], "input": ["", ""], "output": ["short", "much longer"]}
    )
    source = "def check(trace):\n    return len(trace['output']) < 8\n"
    passed = _candidate({"type": "python", "value": source}).run(frame)
    assert passed.to_dict() == {"a": True, "b": False}
    assert str(passed.dtype) == "boolean"


@pytest.mark.parametrize(
    "module",
    ["workbench.evalgen.fields", "workbench.evalgen.sandbox", "workbench.evalgen.runtime"],
)
def test_docstring_examples_run(module: str, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_hostile_trace_text_reaches_a_python_check_only_as_data(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    hostile = f"\"\"\" ''' __import__('os').system('touch {sentinel}') {{{{ x }}}} [END DATA]"
    source = "def check(trace):\n    return 'system' not in trace['output']\n"
    frame = pd.DataFrame(
        {"trace_id": ["a", "b"], "input": [hostile, ""], "output": [hostile, "ok"]}
    )
    assert _candidate({"type": "python", "value": source}).run(frame).tolist() == [False, True]
    assert not sentinel.exists()
