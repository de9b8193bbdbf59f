"""Where things live: the project folder, the default folders of results, runs and the GPU queue, the cache,
and the registry of data sources (each one's name, kinds and the variable that may name a local copy).

From a checkout (an editable install, `PYTHONPATH=.`) the project folder is the repository, so `make table1`
writes `results/` beside the code; from a plain install it is the current directory. Downloads, extracted
data and caches go to `$IMG2MUSIC_HOME`, else `~/.cache/img2music_tf`, wherever the package is installed.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CACHE_VARIABLE = "IMG2MUSIC_HOME"


@functools.cache
def repo_root() -> Path | None:
    """The checkout holding the package (a folder with setup.cfg and reproduce/ above it), or None when the
    package is installed elsewhere (site-packages)."""
    root = PACKAGE.parent
    return root if (root / "setup.cfg").is_file() and (root / "reproduce").is_dir() else None


def project_dir() -> Path:
    """The folder default outputs go under: the checkout, else the current directory."""
    return repo_root() or Path.cwd()


def results_dir() -> Path:
    """Committed outputs: `<project>/results`."""
    return project_dir() / "results"


def runs_dir() -> Path:
    """Run folders and prepared data of reproductions: `<project>/runs`."""
    return project_dir() / "runs"


def gpu_dir() -> Path:
    """The GPU queue's pack, wheels and results: `<project>/gpu`."""
    return project_dir() / "gpu"


def cache_dir() -> Path:
    """Where downloads and caches live: `$IMG2MUSIC_HOME`, else ~/.cache/img2music_tf."""
    return Path(os.environ.get(CACHE_VARIABLE, Path.home() / ".cache" / "img2music_tf"))


def shown(path: Path | str) -> str:
    """A path as results record it: relative to the project folder when inside it, so outputs are portable."""
    path = Path(path).resolve()
    root = project_dir().resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


@dataclass(frozen=True)
class SourceEntry:
    """One data source as the command line offers it; `data.sources.LOADERS` holds how each one loads."""

    name: str
    kinds: tuple[str, ...]  # "music", "image" or both
    env_var: str | None  # the environment variable that may name a local copy
    description: str


BUILTIN_ITEMS = 200  # items the built-in source makes when not told how many
SOURCES = {
    entry.name: entry
    for entry in (
        SourceEntry("authors", ("music",), "IMG2MUSIC_AUTHORS_SOURCE",
                    "the authors' 2884 tokenised training pairs (midiData.txt, 70 distinct songs), linked to EIMG "
                    "for VA labels; downloaded or a local copy"),
        SourceEntry("eimg", ("music",), "IMG2MUSIC_EIMG_SOURCE",
                    "3000 VA-rated piano MIDI files (Wang et al. 2024), downloaded or a local copy"),
        SourceEntry("emotion6", ("image",), "IMG2MUSIC_EMOTION6_SOURCE",
                    "1980 VA-rated photos (Peng et al. 2015), downloaded or a local copy"),
        SourceEntry("emid", ("image",), "IMG2MUSIC_EMID_SOURCE",
                    "EMID_data.csv + its images (Mikels tags mapped to VA)"),
        SourceEntry("builtin", ("music", "image"), None,
                    "a demo set made locally (music21 corpus excerpts, drawn pictures), no download"),
        SourceEntry("folder", ("music", "image"), "IMG2MUSIC_FOLDER_SOURCE",
                    "your own files: a CSV path,valence,arousal"),
    )
}
"""Every data source by name; a new one is an entry here plus a loader in `data.sources.LOADERS`."""


def source_names(kind: str) -> tuple[str, ...]:
    """The sources that give items of `kind` ("music" or "image")."""
    return tuple(name for name, entry in SOURCES.items() if kind in entry.kinds)
