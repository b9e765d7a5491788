r"""Mine assertion candidates from labelled traces, without an LLM.

Each miner reads the *train* split only and proposes typed specs (see
:mod:`workbench.evalgen.runtime`) whose values are taken from the traces as data:

- ``phrase``: word n-grams of the replies or tool arguments much more common in failing
  traces (present: the check fails when one appears) or in clean ones (absent);
- ``id-shape``: shapes of id-like tokens in failing replies (``cust_int_48213`` gives
  ``[a-z]+_[a-z]+_\d+`` and stricter variants), combined greedily into one regex;
- ``length``: the reply length that best separates failing from clean traces;
- ``json``: validity of the output and of tool-call arguments;
- ``tool``: a tool (or any tool) called or not called, two tools in order, and a tool called
  when the user's request contains a phrase;
- ``language``: the replies are in the user's language.

Specs are scored against the labels on train (Matthews correlation), the best of each
miner are measured on dev, and candidates are ranked by their pooled train+dev agreement.
With a model, :func:`draft_check` (from :mod:`workbench.evalgen.drafts`) also asks it for a
``python`` check; that source is data until a person accepts it, and it only runs after the
sandbox's static check passes it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from workbench.evalgen.alignment import LabelSet, confusion, mcc, pooled
from workbench.evalgen.candidate import Candidate, Metrics, Provenance
from workbench.evalgen.drafts import draft_check, extract_code
from workbench.evalgen.fields import texts
from workbench.evalgen.runtime import compile_check, grade_records, spec_hash

_WORDS: Final = re.compile(r"\w+")
_ID_TOKEN: Final = re.compile(r"[\w-]+")
_RUN: Final = re.compile(r"[A-Z]+|[a-z]+|\d+|[^A-Za-z\d]+")
_PER_MINER: Final = 4
_MAX_TERMS: Final = 8
_MIN_GAIN: Final = 0.02


@dataclass(frozen=True)
class Mined:
    """A spec proposed by a miner, before it is measured."""

    spec: dict[str, Any]
    """The typed spec."""
    what: str
    """What the check looks for, in a few words (the start of the rationale)."""
    generator: str
    """``mined:<miner>``."""
    score: float = 0.0
    """Matthews correlation with the train labels, as the miner estimated it."""


Labels = list[bool]
Features = list[set[str]]


def _mcc_of(flagged: set[int], failing: set[int], n: int) -> float:
    tp = len(flagged & failing)
    return mcc(Metrics("", tp, len(flagged) - tp, n - len(failing | flagged), len(failing) - tp))


def _greedy(features: Features, y: Labels, absent: bool, limit: int = 200) -> list[str]:
    """Pick features whose union (or, with ``absent``, whose joint absence) flags failures."""
    n, failing = len(y), {i for i, bad in enumerate(y) if bad}
    cover: dict[str, set[int]] = {}
    for i, found in enumerate(features):
        for feature in found:
            cover.setdefault(feature, set()).add(i)
    n_fail, n_clean = max(1, len(failing)), max(1, n - len(failing))

    def lift(f: str) -> float:
        fail_rate = len(cover[f] & failing) / n_fail
        clean_rate = len(cover[f] - failing) / n_clean
        return clean_rate - fail_rate if absent else fail_rate - clean_rate

    support = 2 if len(failing) >= 5 else 1

    def supported(f: str) -> bool:
        return len(cover[f] - failing if absent else cover[f] & failing) >= support

    pool = [f for f in cover if lift(f) > 0 and supported(f)]
    pool = sorted(pool, key=lambda f: (-lift(f), f))[:limit]
    chosen: list[str] = []
    union: set[int] = set()
    best = 0.0
    everyone = set(range(n))
    while len(chosen) < _MAX_TERMS:
        scored = [
            (_mcc_of(everyone - (union | cover[f]) if absent else union | cover[f], failing, n), f)
            for f in pool
            if f not in chosen
        ]
        if not scored:
            break
        score, feature = max(scored, key=lambda item: (item[0], -len(item[1])))
        if score < best + _MIN_GAIN:
            break
        chosen, union, best = [*chosen, feature], union | cover[feature], score
    return chosen


def _ngrams(text: str, sizes: Iterable[int] = (1, 2, 3)) -> set[str]:
    words = _WORDS.findall(text.casefold())
    return {" ".join(words[i : i + k]) for k in sizes for i in range(len(words) - k + 1)}


def _phrase_regex(phrases: Sequence[str]) -> str:
    alternatives = (r"\W+".join(re.escape(w) for w in p.split()) for p in phrases)
    return r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)"


def _mine_phrases(items: list[dict[str, Any]], y: Labels) -> list[Mined]:
    out = []
    for field in ("replies", "tool_args"):
        grams = [_ngrams("\n".join(texts(r, field))) for r in items]
        for absent in (False, True):
            chosen = _greedy(grams, y, absent)
            if not chosen:
                continue
            spec: dict[str, Any] = {"type": "regex", "field": field, "flags": "i"}
            spec.update(value=_phrase_regex(chosen), negate=not absent)
            where = "failing" if not absent else "clean"
            what = f"phrases of the {field} typical of {where} traces: {chosen}"
            out.append(Mined(spec, what, "mined:phrase"))
    return out


def _literal(text: str) -> str:
    """Escape for a regex, leaving ``-`` and ``_`` bare (they are literal outside a class)."""
    return "".join(c if c in "-_" else re.escape(c) for c in text)


def _shapes(token: str) -> set[str]:
    runs = _RUN.findall(token)
    letters = [i for i, r in enumerate(runs) if r[0].isalpha()]

    def run(r: str, exact: bool) -> str:
        cls = "[A-Z]" if r[0].isupper() else "[a-z]" if r[0].isalpha() else r"\d"
        if not r[0].isalnum():
            return _literal(r)
        return cls + (f"{{{len(r)}}}" if exact else "+")

    def digits_only(r: str) -> str:
        return rf"\d{{{len(r)}}}" if r[0].isdigit() else _literal(r)

    shapes = {
        "".join(run(r, exact=True) for r in runs),
        "".join(run(r, exact=False) for r in runs),
        "".join(digits_only(r) for r in runs),
    }
    if letters:
        first = letters[0]
        shapes.add("".join(_literal(r) if i == first else run(r, True) for i, r in enumerate(runs)))
    return shapes


def _id_tokens(text: str) -> set[str]:
    tokens = (t.strip("-_") for t in _ID_TOKEN.findall(text))
    return {
        t
        for t in tokens
        if len(t) >= 4 and any(c.isdigit() for c in t) and any(c.isalpha() for c in t)
    }


def _mine_shapes(items: list[dict[str, Any]], y: Labels) -> list[Mined]:
    features = [
        set().union(*(_shapes(t) for t in _id_tokens("\n".join(texts(r, "replies")))))
        for r in items
    ]
    chosen = _greedy(features, y, absent=False)
    if not chosen:
        return []
    pattern = r"(?<![\w-])(?:" + "|".join(chosen) + r")(?![\w-])"
    spec = {"type": "regex", "field": "replies", "value": pattern, "negate": True}
    return [Mined(spec, f"id-shaped tokens in replies: {chosen}", "mined:id-shape")]


def _best_cut(values: list[int], y: Labels, above: bool) -> tuple[int, float] | None:
    """The threshold t that best flags failures as ``value > t`` (or ``value < t``)."""
    ordered = sorted(set(values))
    n, failing = len(y), {i for i, bad in enumerate(y) if bad}
    best: tuple[int, float] | None = None
    for low, high in itertools.pairwise(ordered):
        cut = _round_cut(low, high, above)
        flagged = {i for i, v in enumerate(values) if (v > cut if above else v < cut)}
        score = _mcc_of(flagged, failing, n)
        if score > 0 and (best is None or score > best[1]):
            best = (cut, score)
    return best


def _round_cut(low: int, high: int, above: bool = True) -> int:
    """A round threshold between two values, in the middle half of the gap when there is one.

    Without an integer strictly between them, it is ``low`` for a maximum (``value > cut``
    fails) and ``high`` for a minimum (``value < cut`` fails).

    Examples:
        >>> _round_cut(545, 1879), _round_cut(10, 12), _round_cut(398, 430), _round_cut(5, 6)
        (1000, 11, 410, 5)
    """
    quarter = (high - low) / 4
    for step in (1000, 500, 100, 50, 10, 5, 1):
        first = math.ceil((low + quarter) / step) * step  # first multiple at or past a quarter
        if low < first < high and first <= high - quarter:
            return first
    return low if above else high


def _mine_lengths(items: list[dict[str, Any]], y: Labels) -> list[Mined]:
    out = []
    for field in ("replies", "output"):
        lengths = [[len(t) for t in texts(r, field)] or [0] for r in items]
        for kind, above, pick in (("max_length", True, max), ("min_length", False, min)):
            found = _best_cut([pick(v) for v in lengths], y, above)
            if found:
                spec = {"type": kind, "field": field, "value": found[0]}
                what = f"{'long' if above else 'short'} {field}"
                out.append(Mined(spec, what, "mined:length", found[1]))
    return out


def _mine_json(items: list[dict[str, Any]], y: Labels) -> list[Mined]:
    return [
        Mined({"type": "json_valid", "field": field}, f"invalid JSON in {field}", "mined:json")
        for field in ("tool_args", "output")
    ]


def _tool_rules(items: list[dict[str, Any]], y: Labels) -> list[tuple[dict[str, Any], str]]:
    names = sorted({n for r in items for n in texts(r, "tool_names") if n})
    rules: list[tuple[dict[str, Any], str]] = [({"type": "tool_called"}, "no tool call at all")]
    for name in names:
        rules.append(({"type": "tool_called", "value": name}, f"no call of {name}"))
        rules.append(({"type": "tool_not_called", "value": name}, f"a call of {name}"))
    for first, then in _reversed_pairs(items, y):
        order = {"type": "tool_order", "value": [first, then]}
        rules.append((order, f"{then} called before any {first}"))
    inputs = [_ngrams(str(r.get("input") or ""), (1, 2)) for r in items]
    for phrase in _greedy(inputs, y, absent=False)[:3]:
        when = {"type": "regex", "field": "input", "value": _phrase_regex([phrase]), "flags": "i"}
        rules.append(({"type": "tool_called", "when": when}, f"no tool call when {phrase!r}"))
        for tool in names:
            rule = {"type": "tool_called", "value": tool, "when": when}
            rules.append((rule, f"no call of {tool} when the request says {phrase!r}"))
    return rules


def _reversed_pairs(items: list[dict[str, Any]], y: Labels) -> list[tuple[str, str]]:
    """Tool pairs (a, b) where some failing trace calls b before any a, and a at some point."""
    pairs: set[tuple[str, str]] = set()
    for item, bad in zip(items, y, strict=True):
        if not bad:
            continue
        order = texts(item, "tool_names")
        for i, then in enumerate(order):
            pairs.update((first, then) for first in order[i + 1 :] if first not in order[:i])
    return sorted(p for p in pairs if p[0] != p[1])


def _mine_tools(items: list[dict[str, Any]], y: Labels) -> list[Mined]:
    out = []
    for spec, what in _tool_rules(items, y):
        check = compile_check(spec)
        flagged = {i for i, item in enumerate(items) if not check(item)}
        score = _mcc_of(flagged, {i for i, bad in enumerate(y) if bad}, len(y))
        if score > 0:
            out.append(Mined(spec, what, "mined:tool", score))
    return out


def _mine_language(items: list[dict[str, Any]], y: Labels) -> list[Mined]:
    spec = {"type": "language", "field": "replies", "match": "user"}
    return [Mined(spec, "replies in another language than the user's", "mined:language")]


__all__ = [
    "MINERS",
    "Mined",
    "complexity",
    "draft_check",
    "extract_code",
    "mine_assertions",
    "mine_specs",
    "rank",
    "with_metrics",
]

MINERS: Final[dict[str, Callable[[list[dict[str, Any]], Labels], list[Mined]]]] = {
    "phrase": _mine_phrases,
    "id-shape": _mine_shapes,
    "length": _mine_lengths,
    "json": _mine_json,
    "tool": _mine_tools,
    "language": _mine_language,
}
"""Miner name -> function(train records, train labels) -> proposed specs."""


def mine_specs(labels: LabelSet) -> list[Mined]:
    """Propose specs from the train split, each scored on train, best first within a miner.

    Examples:
        >>> # labels = propose.label_set(ws, "overlong_reply")
        >>> # mine_specs(labels)[0].spec  -> {'type': 'max_length', 'field': 'replies', ...}
    """
    items = labels.records("train")
    y = [bool(labels.failing.loc[r["trace_id"]]) for r in items]
    if not any(y):
        raise ValueError(f"no failing traces of {labels.failure_mode!r} in the train split")
    out: list[Mined] = []
    for mine in MINERS.values():
        scored = [_scored(m, items, y) for m in mine(items, y)]
        scored = [m for m in scored if m.score > 0]
        out += sorted(scored, key=lambda m: -m.score)[:_PER_MINER]
    return out


def _scored(mined: Mined, items: list[dict[str, Any]], y: Labels) -> Mined:
    check = compile_check(mined.spec)
    flagged = {i for i, item in enumerate(items) if not check(item)}
    score = _mcc_of(flagged, {i for i, bad in enumerate(y) if bad}, len(y))
    return dataclasses.replace(mined, score=score)


def mine_assertions(labels: LabelSet, provenance: Provenance, top: int = 5) -> list[Candidate]:
    """Mine, measure on train and dev, and rank assertion candidates; best first.

    Examples:
        >>> labels = label_set(ws, "overlong_reply")  # doctest: +SKIP
        >>> provenance = Provenance("overlong_reply", "", "")  # doctest: +SKIP
        >>> mine_assertions(labels, provenance)[0].spec  # doctest: +SKIP
        {'type': 'max_length', 'field': 'replies', 'value': 1000}

    Args:
        labels: the labels of one failure mode with their split.
        provenance: the provenance to record (its ``generator`` is set per candidate).
        top: how many to return.
    """
    candidates = []
    for mined in mine_specs(labels):
        slug = f"{labels.failure_mode}-{mined.generator.split(':')[-1]}-{spec_hash(mined.spec)}"
        prov = dataclasses.replace(provenance, generator=mined.generator)
        candidate = Candidate(slug, "assertion", mined.spec, "", prov)
        candidates.append(with_metrics(candidate, labels, ("train", "dev"), what=mined.what))
    return rank(candidates)[:top]


def with_metrics(
    candidate: Candidate,
    labels: LabelSet,
    splits: Sequence[str],
    *,
    what: str | None = None,
    exclude: Iterable[str] = (),
    **llm_kw: Any,
) -> Candidate:
    """A copy of the candidate measured on the given splits (ids in ``exclude`` left out).

    With ``what``, the rationale is rewritten to say what the check looks for and how it
    did on train.
    """
    skip = set(exclude)
    metrics = dict(candidate.metrics)
    for split in splits:
        items = [r for r in labels.records(split) if r["trace_id"] not in skip]
        ids = [r["trace_id"] for r in items]
        graded = grade_records(candidate, items, **llm_kw)
        passed = pd.Series([p for p, _ in graded], index=ids, dtype="boolean")
        metrics[split] = confusion(passed, labels.failing.loc[ids], split)
    rationale = candidate.rationale
    if what is not None and "train" in metrics:
        m = metrics["train"]
        rationale = (
            f"Fails on {what}. On train it flags {m.tp} of {m.tp + m.fn} failing traces "
            f"and {m.fp} of {m.fp + m.tn} clean ones."
        )
    return dataclasses.replace(candidate, metrics=metrics, rationale=rationale)


def rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Order candidates by agreement (MCC) on train and dev pooled; simpler specs first on ties.

    A spec is simpler when it has fewer alternatives (terms of a regex or of a list, plus
    one for a condition), then when its text is shorter.
    """

    def key(c: Candidate) -> tuple[float, int, int, str]:
        parts = [c.metrics[s] for s in ("train", "dev") if s in c.metrics]
        score = round(mcc(pooled(parts, "train+dev")), 9)
        return (-score, complexity(c.spec), len(json.dumps(c.spec)), c.id)

    return sorted(candidates, key=key)


def complexity(spec: dict[str, Any]) -> int:
    """How many alternatives a spec tests: regex terms, list items, plus one for a condition.

    Examples:
        >>> complexity({"type": "regex", "value": "(?:a|b|c)"}), complexity({"type": "json_valid"})
        (3, 1)
    """
    value = spec.get("value")
    terms = 1
    if isinstance(value, list):
        terms = len(value)
    elif spec.get("type") == "regex" and isinstance(value, str):
        terms = value.count("|") + 1
    return terms + (complexity(spec["when"]) if isinstance(spec.get("when"), dict) else 0)
