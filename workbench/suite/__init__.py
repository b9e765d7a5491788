"""The eval suite on disk: kept in git, run on new traces every week, compared, exported.

::

    evals/
      suite.yaml          failure modes; per eval: id, kind, file, threshold, version,
                          provenance, alignment with the human labels at acceptance
      assertions/<id>.py  standalone check(trace) -> bool, plus promptfoo's get_assert
      judges/<id>.md      YAML front matter (model, params, output contract) + prompt
      labels/<id>.txt     labelled trace ids, when there are many (<id>@<hash>.txt after a
                          replacement changed them, so a crash never splits the pair)
      .cache/             results of judge calls (git-ignored)

Examples:
    >>> import workbench as wb
    >>> from workbench.suite import Suite, report
    >>> suite = Suite("analysis/evals")  # doctest: +SKIP
    >>> results = suite.run(wb.load_traces("sample_data/traces.jsonl"))  # doctest: +SKIP
    >>> print(report(results, suite=suite))  # doctest: +SKIP
"""

from __future__ import annotations

from workbench.suite.export import export
from workbench.suite.format import SuiteFormatError
from workbench.suite.gate import GateFailure, assert_gates, check_gates
from workbench.suite.loading import LoadedSuite, SuiteEval
from workbench.suite.report import Report, compare_runs, report
from workbench.suite.runner import collapse_repeats, flakiness
from workbench.suite.suite import DEFAULT_THRESHOLD, Suite

__all__ = [
    "DEFAULT_THRESHOLD",
    "GateFailure",
    "LoadedSuite",
    "Report",
    "Suite",
    "SuiteEval",
    "SuiteFormatError",
    "assert_gates",
    "check_gates",
    "collapse_repeats",
    "compare_runs",
    "export",
    "flakiness",
    "report",
]
