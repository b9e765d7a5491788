"""Team review: share the work, measure agreement, settle disagreements, gate the judges.

Error analysis is often a team ritual. A lead splits a sample among reviewers with a part
everyone reviews (:func:`review_session`); each reviews their queue in the Reviewer; the
team looks at how far they agree (:func:`agreement`), goes through the traces where they
differ (:func:`disagreements`) and the lead settles them (:func:`adjudicate`). A judge for
a failure mode is only built once people agree on it (:func:`judge_readiness`). Everything
is stored in the workspace, so on a shared PostgreSQL everyone sees the same state.

Examples:
    >>> import workbench as wb
    >>> ws = wb.open_workspace("analysis")  # doctest: +SKIP
    >>> session = wb.review_session(ws, ws.traces()["trace_id"][:90], ["ana", "bob", "carl"])
    ... # doctest: +SKIP
    >>> wb.Reviewer(ws, traces=session.queue("ana"), annotator="ana")  # doctest: +SKIP
    >>> wb.agreement(ws)  # doctest: +SKIP
    >>> wb.disagreements(ws, "verdict")  # doctest: +SKIP
"""

from workbench.review.adjudication import adjudicate, disagreements, settled_labels
from workbench.review.agreement import (
    AGREEMENT_COLUMNS,
    BANDS,
    agreement,
    agreement_from_labels,
    band,
    raw_agreement,
)
from workbench.review.assignment import (
    ReviewSession,
    assign,
    open_review_session,
    review_session,
    review_sessions,
)
from workbench.review.audit import audit
from workbench.review.labels import VERDICT, ratings
from workbench.review.readiness import (
    AgreementWarning,
    NotReadyError,
    Readiness,
    ensure_judge_ready,
    judge_readiness,
)

__all__ = [
    "AGREEMENT_COLUMNS",
    "BANDS",
    "VERDICT",
    "AgreementWarning",
    "NotReadyError",
    "Readiness",
    "ReviewSession",
    "adjudicate",
    "agreement",
    "agreement_from_labels",
    "assign",
    "audit",
    "band",
    "disagreements",
    "ensure_judge_ready",
    "judge_readiness",
    "open_review_session",
    "ratings",
    "raw_agreement",
    "review_session",
    "review_sessions",
    "settled_labels",
]
