"""Show one trace in a notebook: the chat, its tool calls, the span tree, metadata, feedback.

Trace text is data. Every piece of it goes through :func:`html.escape` and lands
only between tags, never inside an attribute; class names and inline styles are
built from this module's own constants and integers.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from workbench.traces import chat
from workbench.traces.span_fields import parse_json

_STYLE = """<style>
.wb-trace{font-family:system-ui,sans-serif;font-size:13px;line-height:1.4;max-width:980px}
.wb-trace h4{margin:12px 0 4px;font-size:13px}
.wb-trace pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;padding:6px;
 background:rgba(127,127,127,.08);border-radius:4px;font-size:12px}
.wb-head{font-weight:600}.wb-muted{opacity:.7;font-weight:400}
.wb-error{color:#b42318}.wb-banner{border-left:3px solid #b42318;padding:4px 8px;margin:6px 0}
.wb-msg{border-left:3px solid #999;padding:2px 8px;margin:4px 0}
.wb-user{border-color:#2e90fa}.wb-assistant{border-color:#12b76a}.wb-system{border-color:#999}
.wb-tool{border-color:#f79009}.wb-role{font-size:11px;text-transform:uppercase;opacity:.7}
.wb-span{padding:1px 0}.wb-span-failed{background:rgba(180,35,24,.08)}
.wb-kind{font-size:11px;padding:0 4px;border:1px solid #999;border-radius:3px;margin-right:4px}
.wb-trace table{border-collapse:collapse}.wb-trace td{padding:2px 8px;vertical-align:top;
 border-bottom:1px solid rgba(127,127,127,.2)}
</style>"""

_BIDI_CONTROLS: Final = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""Bidi embeddings, overrides and isolates: they reorder the text that follows them."""

_ROLE_CLASSES = {"user": "wb-user", "assistant": "wb-assistant", "system": "wb-system"}
_SPAN_LINES = 60


def show_trace(
    trace: pd.Series | pd.DataFrame | Mapping[str, Any], max_chars: int = 4000
) -> TraceView:
    """Render one trace: a row of ``load_traces`` output, a one-row frame, or a row dict.

    Args:
        trace: the trace, e.g. ``traces.iloc[0]``.
        max_chars: the longest text shown for any one field before it is cut.

    Returns:
        An object that Jupyter displays as HTML (chat turns by role, tool calls with
        arguments and results, the span tree with durations and errors, metadata and
        feedback) and that prints as plain text.

    Raises:
        ValueError: a frame with more than one row was given.

    Examples:
        >>> import workbench as wb
        >>> traces = wb.load_traces("sample_data/traces.jsonl")  # doctest: +SKIP
        >>> wb.show_trace(traces.iloc[0])  # doctest: +SKIP
    """
    if isinstance(trace, pd.DataFrame):
        if len(trace) != 1:
            raise ValueError(
                f"show_trace shows one trace; this frame has {len(trace)} rows "
                "(pick one, e.g. traces.iloc[0] or traces[traces.trace_id == '...'])"
            )
        trace = trace.iloc[0]
    return TraceView({str(key): value for key, value in trace.items()}, max_chars)


@dataclass(frozen=True)
class TraceView:
    """One trace, displayable in Jupyter (``_repr_html_``) and printable (``repr``)."""

    trace: dict[str, Any]
    """The canonical row."""
    max_chars: int = 4000
    """The longest text shown for one field."""

    def _repr_html_(self) -> str:
        parts = [_STYLE, '<div class="wb-trace">', self._head()]
        for title, field in (("Input", "input"), ("Output", "output")):
            parts.append(f"<h4>{title}</h4>{self._pre(self.trace.get(field))}")
        parts += [self._messages(), self._calls(), self._spans(), self._tables(), "</div>"]
        return "".join(parts)

    def __repr__(self) -> str:
        get = self.trace.get
        lines = [f"Trace {_plain(get('trace_id'))} · " + " · ".join(self._facts())]
        if not _missing(get("error")):
            lines.append(f"error:  {_line(get('error'), 200)}")
        lines.append(f"input:  {_line(get('input'), 200)}")
        lines.append(f"output: {_line(get('output'), 200)}")
        counts = {k: len(_items(get(k))) for k in ("messages", "tool_calls", "spans", "feedback")}
        lines.append(" · ".join(f"{k.replace('_', ' ')}: {n}" for k, n in counts.items()))
        spans = _items(get("spans"))
        for span in spans[:_SPAN_LINES]:
            lines.append("  " + "  " * _depth(span) + self._span_text(span))
        if len(spans) > _SPAN_LINES:
            lines.append(f"  … {len(spans) - _SPAN_LINES} more spans")
        return printable("\n".join(lines))

    def _facts(self) -> list[str]:
        get = self.trace.get
        facts = [str(get("timestamp")) if not _missing(get("timestamp")) else "no time"]
        if not _missing(get("model")):
            facts.append(str(get("model")))
        if not _missing(get("latency_ms")):
            facts.append(_ms(get("latency_ms")))
        tokens = get("tokens")
        if isinstance(tokens, dict) and tokens.get("total") is not None:
            facts.append(f"{tokens['total']} tokens")
        cost = get("cost_usd")
        if isinstance(cost, int | float) and not _missing(cost):
            facts.append(f"${cost:.6f}")
        return facts

    def _head(self) -> str:
        head = (
            f'<div class="wb-head">Trace <code>{_esc(self.trace.get("trace_id"))}</code> '
            f'<span class="wb-muted">{_esc(" · ".join(self._facts()))}</span></div>'
        )
        error = self.trace.get("error")
        if not _missing(error):
            head += (
                f'<div class="wb-banner wb-error">Error: {_esc(_clip(error, self.max_chars))}</div>'
            )
        return head

    def _pre(self, value: Any) -> str:
        return f"<pre>{_esc(_clip(_pretty(value), self.max_chars))}</pre>"

    def _details(self, summary: str, body: str, failed: bool = False) -> str:
        cls = ' class="wb-error"' if failed else ""
        return f"<details><summary{cls}>{summary}</summary>{body}</details>"

    def _messages(self) -> str:
        messages = _items(self.trace.get("messages"))
        if not messages:
            return ""
        out = [f"<h4>Conversation ({len(messages)} messages)</h4>"]
        for message in messages:
            if not isinstance(message, Mapping):
                continue
            role = str(message.get("role", ""))
            cls = _ROLE_CLASSES.get(_role_kind(role), "wb-tool")
            body = ""
            if str(message.get("content") or "").strip():
                body = self._pre(message.get("content"))
                if cls == "wb-tool":
                    body = self._details("tool result", body)
            for call in chat.tool_calls([{"role": role, "content": "", **message}]):
                summary = f"tool call: {_esc(call.get('name'))}"
                body += self._details(summary, self._pre(call.get("arguments")))
            out.append(
                f'<div class="wb-msg {cls}"><div class="wb-role">{_esc(role)}</div>{body}</div>'
            )
        return "".join(out)

    def _calls(self) -> str:
        calls = [c for c in _items(self.trace.get("tool_calls")) if isinstance(c, Mapping)]
        if not calls:
            return ""
        out = [f"<h4>Tool calls ({len(calls)})</h4>"]
        for call in calls:
            failed = not _missing(call.get("error"))
            body = f"<div>Arguments</div>{self._pre(call.get('arguments'))}"
            body += f"<div>Result</div>{self._pre(call.get('result'))}"
            if failed:
                body += f'<div class="wb-error">Error</div>{self._pre(call.get("error"))}'
            mark = " — failed" if failed else ""
            out.append(self._details(f"{_esc(call.get('name'))}{mark}", body, failed))
        return "".join(out)

    def _span_text(self, span: Any) -> str:
        if not isinstance(span, Mapping):
            return _plain(span)
        text = f"{_plain(span.get('name'))} [{_plain(span.get('kind'))}]"
        if not _missing(span.get("duration_ms")):
            text += f" {_ms(span.get('duration_ms'))}"
        if span.get("status") == "ERROR" or not _missing(span.get("error")):
            text += f" ERROR: {_line(span.get('error') or 'failed', 120)}"
        flags = span.get("flags") or []
        return text + (f" ({', '.join(_plain(f) for f in flags)})" if flags else "")

    def _spans(self) -> str:
        spans = [s for s in _items(self.trace.get("spans")) if isinstance(s, Mapping)]
        if not spans:
            return ""
        out = [f"<h4>Spans ({len(spans)})</h4>"]
        for span in spans:
            failed = span.get("status") == "ERROR" or not _missing(span.get("error"))
            cls = "wb-span wb-span-failed" if failed else "wb-span"
            detail = {k: span.get(k) for k in ("input", "output", "attributes", "events")}
            body = self._pre({k: v for k, v in detail.items() if v not in (None, {}, [])})
            summary = f'<span class="wb-kind">{_esc(span.get("kind"))}</span>'
            summary += _esc(span.get("name"))
            if not _missing(span.get("duration_ms")):
                summary += f' <span class="wb-muted">{_esc(_ms(span.get("duration_ms")))}</span>'
            if failed:
                error = _esc(_clip(span.get("error") or "failed", 300))
                summary += f' <span class="wb-error">{error}</span>'
            if span.get("flags"):
                summary += (
                    f' <span class="wb-muted">({_esc(", ".join(map(str, span["flags"])))})</span>'
                )
            indent = 16 * _depth(span)
            out.append(
                f'<div class="{cls}" style="margin-left:{indent}px">'
                f"{self._details(summary, body, failed)}</div>"
            )
        return "".join(out)

    def _tables(self) -> str:
        out = []
        metadata = self.trace.get("metadata")
        if isinstance(metadata, Mapping) and metadata:
            rows = "".join(
                f"<tr><td>{_esc(k)}</td><td>{_esc(_clip(_pretty(v), self.max_chars))}</td></tr>"
                for k, v in metadata.items()
            )
            out.append(f"<h4>Metadata</h4><table>{rows}</table>")
        feedback = [f for f in _items(self.trace.get("feedback")) if isinstance(f, Mapping)]
        if feedback:
            cells = ("name", "value", "source", "comment")
            rows = "".join(
                "<tr>" + "".join(f"<td>{_esc(_pretty(f.get(c)))}</td>" for c in cells) + "</tr>"
                for f in feedback
            )
            head = "".join(f"<td><b>{c}</b></td>" for c in cells)
            out.append(f"<h4>Feedback ({len(feedback)})</h4><table><tr>{head}</tr>{rows}</table>")
        return "".join(out)


def _role_kind(role: str) -> str:
    lowered = role.lower()
    if lowered in chat.USER_ROLES:
        return "user"
    if lowered in chat.ASSISTANT_ROLES:
        return "assistant"
    return "system" if lowered in ("system", "developer") else "tool"


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _items(value: Any) -> list[Any]:
    """A list-like cell as a list (lists, tuples, arrays read back from Parquet); else empty."""
    if _missing(value) or isinstance(value, str | bytes | Mapping):
        return []
    try:
        return list(value)
    except TypeError:
        return []


def _depth(span: Any) -> int:
    try:
        return max(0, min(int(span.get("depth") or 0), 40))
    except (TypeError, ValueError):
        return 0


def _pretty(value: Any) -> str:
    """Text as it is, JSON (also JSON held in text) indented, nothing as empty."""
    if _missing(value):
        return ""
    parsed = parse_json(value)
    if isinstance(parsed, str):
        return parsed
    return json.dumps(parsed, indent=2, ensure_ascii=False, default=str)


def _clip(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else _pretty(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def reveal_bidi(text: str) -> str:
    r"""Show bidi embedding, override and isolate characters as ``[U+....]`` marks.

    Shown as they are, they would reorder the rest of the line, the page's own text
    included (an unclosed U+202E writes everything after it right to left); shown as
    marks, a reader sees that the trace holds them.

    Examples:
        >>> reveal_bidi("invoice_\u202egnp.exe")
        'invoice_[U+202E]gnp.exe'
    """
    return _BIDI_CONTROLS.sub(lambda found: f"[U+{ord(found.group()):04X}]", text)


def printable(text: str) -> str:
    r"""Text safe to print to a terminal: unprintable characters written as escapes.

    Line breaks and tabs stay; ANSI escape sequences (which would recolour, clear or
    retitle the terminal, or make links), bidi overrides and other control characters
    from trace text are shown as ``\x1b``-style escapes instead of acting.

    Examples:
        >>> printable("\x1b[2Jcleared?\tno")
        '\\x1b[2Jcleared?\tno'
    """
    return "".join(
        c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape").decode() for c in text
    )


def _esc(value: Any) -> str:
    return html.escape(reveal_bidi("" if _missing(value) else str(value)), quote=True)


def _plain(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _line(value: Any, limit: int) -> str:
    return _clip(" ".join(_pretty(value).split()), limit)


def _ms(value: Any) -> str:
    number = float(value)
    return f"{number / 1000:.2f} s" if number >= 1000 else f"{number:.1f} ms"
