"""Shared test settings: one SEED, the mirrored data locations, a fresh cache per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SEED = 1234
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
EIMG_SOURCE = Path(os.environ.get("IMG2MUSIC_EIMG_SOURCE", SHARED_DATA / "eimg"))
EMOTION6_SOURCE = Path(
    os.environ.get("IMG2MUSIC_EMOTION6_SOURCE", SHARED_DATA / "emotion6" / "Emotion6-320px.zip")
)
AUTHORS_SOURCE = Path(os.environ.get("IMG2MUSIC_AUTHORS_SOURCE", SHARED_DATA / "authors"))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep downloads and caches of the test run out of the user's ~/.cache."""
    os.environ["IMG2MUSIC_HOME"] = str(tmp_path_factory.mktemp("img2music_home"))


@pytest.fixture
def eimg_source() -> Path:
    if not EIMG_SOURCE.exists():
        pytest.skip(f"EIMG mirror not found at {EIMG_SOURCE}")
    return EIMG_SOURCE


@pytest.fixture
def emotion6_source() -> Path:
    if not EMOTION6_SOURCE.exists():
        pytest.skip(f"Emotion6 mirror not found at {EMOTION6_SOURCE}")
    return EMOTION6_SOURCE


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny untrained run folder (tests/run_fixtures.py), shared: copy it before changing it."""
    from run_fixtures import write_tiny_run

    return write_tiny_run(tmp_path_factory.mktemp("tiny_run") / "run")


@pytest.fixture
def authors_source() -> Path:
    """The authors' published midiData.txt (a folder holding it, or the file)."""
    if not AUTHORS_SOURCE.exists():
        pytest.skip(f"authors' data mirror not found at {AUTHORS_SOURCE}")
    return AUTHORS_SOURCE
