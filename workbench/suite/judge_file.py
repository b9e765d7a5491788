r"""``evals/judges/<id>.md``: an LLM judge as YAML front matter plus its prompt template.

The file is what :func:`workbench.evalgen.judges.to_markdown` writes: front matter with the
id, failure mode, model, LLM parameters, the output contract (reasoning, then a final
``VERDICT: PASS`` or ``VERDICT: FAIL`` line) and the few-shot example ids; then the prompt,
whose only placeholder is ``$trace``. Here it is read back with every field validated, so a
hand edit that breaks it is reported with the file and the field, e.g.
``evals/judges/x.md: params.temperature: Input should be a valid number``.

Examples:
    >>> from workbench.evalgen.candidate import Candidate, Provenance
    >>> spec = {"type": "judge", "prompt": "Judge this:\n$trace\n", "model": "openai/gpt-4o-mini"}
    >>> c = Candidate("tone-judge", "judge", spec, "", Provenance("rude_tone", "x", ""))
    >>> parse_judge(render_judge(c), "evals/judges/tone-judge.md")["prompt"]
    'Judge this:\n$trace\n'
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.evalgen.judges import VERDICTS, to_markdown
from workbench.suite.format import SuiteFormatError, parse_yaml, problems_of

if TYPE_CHECKING:
    from workbench.evalgen.candidate import Candidate

DEFAULT_MAX_TRACE_CHARS = 6000
"""Characters of a transcript shown to the judge when the file does not say."""

_CREDENTIAL_PARAM = re.compile(
    r"(?:^|_)(?:api_?key|key|secret|token|password|credentials?)(?:_|$)", re.I
)
_CREDENTIAL_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|cookie", re.I)


def credential_params(params: Mapping[str, Any]) -> list[str]:
    """The judge parameters that hold credentials (``api_key``, an auth header, ...).

    A suite file is committed and shared, so a key in it would leak; keys belong in
    ``wb.llm.configure(api_key=...)`` or the environment.

    Examples:
        >>> credential_params({"temperature": 0, "max_tokens": 9, "api_key": "sk-..."})
        ['api_key']
        >>> credential_params({"extra_headers": {"Authorization": "Bearer x", "X-Run": "1"}})
        ['extra_headers.Authorization']
    """
    found = []
    for name, value in params.items():
        if _CREDENTIAL_PARAM.search(str(name)):
            found.append(str(name))
        elif isinstance(value, Mapping):
            found += [f"{name}.{k}" for k in value if _CREDENTIAL_HEADER.search(str(k))]
    return found


def _refuse_credentials(params: Mapping[str, Any]) -> None:
    secrets = credential_params(params)
    if secrets:
        raise ValueError(
            f"{secrets} hold credentials and would be written into the suite file; set the "
            "key with wb.llm.configure(api_key=...) or $WORKBENCH_API_KEY instead"
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JudgeOutput(BaseModel):
    """The output contract of the judge; its verdicts must be exactly PASS and FAIL."""

    model_config = ConfigDict(extra="allow", frozen=True)

    verdicts: dict[str, str]

    @field_validator("verdicts")
    @classmethod
    def _pass_fail(cls, value: dict[str, str]) -> dict[str, str]:
        if sorted(value) != sorted(VERDICTS):
            raise ValueError(f"must name exactly {' and '.join(VERDICTS)}, got {sorted(value)}")
        return value


class JudgeExample(_Strict):
    """A labelled trace shown to the judge as a few-shot example."""

    trace_id: str
    verdict: Literal["PASS", "FAIL"]


class JudgeFront(_Strict):
    """The front matter of a judge file."""

    id: str
    failure_mode: str
    model: str | None = None
    params: dict[str, Any] = {}
    max_trace_chars: int | None = Field(default=None, gt=0)
    output: JudgeOutput
    examples: list[JudgeExample] = []
    generator: str | None = None
    created_at: str | None = None

    @field_validator("created_at", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat().replace("+00:00", "Z")
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        refused = sorted({"stream", "num_retries", "max_retries", "mock_response"} & set(value))
        if refused:
            raise ValueError(f"{refused} can not be set here (the LLM door manages them)")
        _refuse_credentials(value)
        return value


def render_judge(candidate: Candidate) -> str:
    """The text of ``judges/<id>.md`` for a judge candidate.

    Raises:
        ValueError: The spec is not a judge, its prompt has placeholders besides ``$trace``,
            or its params hold a credential (see :func:`credential_params`).
    """
    spec = candidate.spec
    if spec.get("type") != "judge" or not isinstance(spec.get("prompt"), str):
        raise ValueError(f"{candidate.id}: a judge spec needs type 'judge' and a prompt str")
    try:
        _refuse_credentials(spec.get("params") or {})
    except ValueError as exc:
        raise ValueError(f"{candidate.id}: params: {exc}") from None
    problem = _placeholder_problem(spec["prompt"])
    if problem:
        raise ValueError(f"{candidate.id}: prompt: {problem}")
    return to_markdown(candidate)


def _placeholder_problem(prompt: str) -> str | None:
    template = string.Template(prompt)
    if not template.is_valid():
        return "a '$' that is not a placeholder; write '$$' for a literal dollar sign"
    others = sorted(set(template.get_identifiers()) - {"trace"})
    if others:
        return f"placeholders other than $trace: {', '.join('$' + o for o in others)}"
    if "trace" not in template.get_identifiers():
        return "no $trace placeholder: the judge would not see the trace"
    return None


_DELIMITER = re.compile(r"^---[ \t]*$", re.M)


def parse_judge(text: str, display: str) -> dict[str, Any]:
    """The judge spec from the text of a judge file, validated.

    Args:
        text: The file's text.
        display: How to name the file in errors, e.g. ``evals/judges/x.md``.

    Returns:
        ``{"type": "judge", "prompt", "model", "verdicts", "params", "max_trace_chars",
        "examples"}``, the spec :func:`workbench.evalgen.judges.from_markdown` gives.

    Raises:
        SuiteFormatError: No front matter, invalid YAML or fields, or a bad prompt.
    """
    front, body = parse_front_matter(text, display)
    prompt = body.strip() + "\n"
    problem = _placeholder_problem(prompt)
    if problem:
        raise SuiteFormatError([f"{display}: prompt: {problem}"])
    return {
        "type": "judge",
        "prompt": prompt,
        "model": front.model,
        "verdicts": list(VERDICTS),
        "params": dict(front.params),
        "max_trace_chars": front.max_trace_chars or DEFAULT_MAX_TRACE_CHARS,
        "examples": [example.model_dump() for example in front.examples],
    }


def parse_front_matter(text: str, display: str) -> tuple[JudgeFront, str]:
    """The validated front matter and the body of a judge file."""
    parts = _DELIMITER.split(text, maxsplit=2)
    if len(parts) != 3 or parts[0].strip():
        raise SuiteFormatError(
            [f"{display}: must start with YAML front matter between two '---' lines"]
        )
    raw = parse_yaml(parts[1], display, line_offset=1)
    if not isinstance(raw, dict):
        raise SuiteFormatError([f"{display}: the front matter must be a YAML mapping"])
    try:
        front = JudgeFront.model_validate(raw)
    except ValidationError as exc:
        raise SuiteFormatError(problems_of(display, exc)) from None
    return front, parts[2]
