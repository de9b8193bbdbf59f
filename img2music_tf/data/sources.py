"""Every data source by name: the kinds of items it gives, how it loads, where a local copy may be named.

A new source is a module with a `load` function plus one entry in `SOURCES`; `data prepare`
(its `--music` / `--images` choices, help and local-copy variables) reads everything from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from img2music_tf.data import builtin, eimg, emid, emotion6, folder
from img2music_tf.data.items import SourceResult

BUILTIN_ITEMS = 200  # items the built-in source makes when not told how many


@dataclass(frozen=True)
class DataSource:
    """One source: `load(source, kind, n)` -> SourceResult, where `source` is a local copy (None: the
    environment variable `env_var`, else a download) and `n` the number of items to make (built-in only)."""

    name: str
    kinds: tuple[str, ...]  # "music", "image" or both
    load: Callable[[str | Path | None, str, int | None], SourceResult]
    env_var: str | None
    description: str


SOURCES = {
    source.name: source
    for source in (
        DataSource("eimg", ("music",), lambda source, kind, n: eimg.load(source), eimg.ENV_VAR,
                   "3000 VA-rated piano MIDI files (Wang et al. 2024), downloaded or a local copy"),
        DataSource("emotion6", ("image",), lambda source, kind, n: emotion6.load(source), emotion6.ENV_VAR,
                   "1980 VA-rated photos (Peng et al. 2015), downloaded or a local copy"),
        DataSource("emid", ("image",), lambda source, kind, n: emid.load(source), emid.ENV_VAR,
                   "EMID_data.csv + its images (Mikels tags mapped to VA)"),
        DataSource("builtin", ("music", "image"),
                   lambda source, kind, n: builtin.load(source, kind=kind, n=n or BUILTIN_ITEMS), None,
                   "a demo set made locally (music21 corpus excerpts, drawn pictures), no download"),
        DataSource("folder", ("music", "image"), lambda source, kind, n: folder.load(source, kind=kind),
                   folder.ENV_VAR, "your own files: a CSV path,valence,arousal"),
    )
}


def names(kind: str) -> tuple[str, ...]:
    """The sources that give items of `kind` ("music" or "image")."""
    return tuple(name for name, source in SOURCES.items() if kind in source.kinds)
