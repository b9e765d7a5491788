"""The trace-export formats, registered in sniffing order ahead of the generic ``records``.

Each sniffer checks keys that only its format has, so the order matters only for
speed and for files that mix shapes: whole-file exports first (OTLP, any-agent,
MLflow, Langfuse), then one-record-per-span or per-run files (LangSmith runs,
Phoenix and OTel SDK spans).

==============  ===========================  ============================================
format          aliases                      recognised by
==============  ===========================  ============================================
otel            otlp, opentelemetry          ``resourceSpans``; ``spans`` + ``final_output``;
                                             ``context`` + ``parent``/``parent_id``
mlflow          —                            ``info`` + ``data.spans``
langfuse        —                            ``trace`` + ``observations``; a trace with
                                             ``observations``
langsmith       —                            ``run_type`` + ``parent_run_id``
openinference   phoenix                      ``context`` + ``span_kind``
==============  ===========================  ============================================
"""

from __future__ import annotations

from workbench.traces import adapters, langfuse, langsmith, mlflow, otel

ORDER: tuple[adapters.Adapter, ...] = (
    otel.ADAPTERS[0],
    mlflow.ADAPTER,
    langfuse.ADAPTER,
    langsmith.ADAPTER,
    otel.ADAPTERS[1],
)
"""The trace-export adapters, in the order they are tried."""

FORMATS: tuple[str, ...] = tuple(adapter.name for adapter in ORDER)
"""Their names, as ``load_traces(format=...)`` takes them."""


def _register() -> None:
    """Add each format once, just ahead of the catch-all ``records`` adapter."""
    known = {adapter.name for adapter in adapters.adapters()}
    for adapter in ORDER:
        if adapter.name not in known:
            adapters.register(adapter, before="records")


_register()
