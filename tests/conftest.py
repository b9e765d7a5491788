"""Test set-up shared by the whole suite: offline switches and the shared real data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set before anything imports litellm or the Hugging Face libraries: no network in tests.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One cache folder for the whole run (embeddings, LLM answers), shared with notebook kernels:
# the sample traces are embedded once, and the user's own cache is never touched.
os.environ.setdefault("WORKBENCH_CACHE_DIR", tempfile.mkdtemp(prefix="workbench-test-cache-"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real traces and export samples kept beside the repository."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample exports not present at {SHARED_DATA} (kept beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root, for sample_data/ and notebooks/."""
    return REPO
