"""Inputs that once broke the trace loader now load, or fail naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fuzz_contract import check_file

CORPUS = Path(__file__).parent / "fuzz_corpus"
FILES = sorted(p for p in CORPUS.iterdir() if p.name != "README.md")

MUST_REFUSE = {
    "langfuse-handmade-observation-is-null.json",
    "langsmith-handmade-child-run-is-null.json",
}
"""Inputs that once loaded with a part silently left out: ``errors="raise"`` must refuse them."""


def test_corpus_is_there_and_described() -> None:
    """Each corpus file is listed in the README, with what it broke."""
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert FILES
    assert [p.name for p in FILES if f"`{p.name}`" not in readme] == []
    assert {p.name for p in FILES} >= MUST_REFUSE


@pytest.mark.parametrize("stored", FILES, ids=[p.name for p in FILES])
def test_corpus_input_loads_or_fails_naming_the_file(stored: Path, tmp_path: Path) -> None:
    path = stored
    if stored.suffix == ".gz":  # large inputs are kept compressed
        path = tmp_path / stored.stem
        path.write_bytes(gzip.decompress(stored.read_bytes()))
    verdict = check_file(path)
    assert not verdict.failed, f"{verdict.outcome}: {verdict.detail}"
    if stored.name in MUST_REFUSE:
        assert verdict.outcome == "trace_load_error", "a part of the trace was left out unsaid"
