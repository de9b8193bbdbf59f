"""Every data source by name: the kinds of items it gives, how it loads, where a local copy may be named.

A new source is a module with a `load` function plus one entry in `SOURCES`; `data prepare`
(its `--music` / `--images` choices, help and local-copy variables) reads everything from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from img2music_tf.data import authors, builtin, eimg, emid, emotion6, folder
from img2music_tf.data.items import Item, Skipped, SourceResult

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


def _authors(source: str | Path | None, kind: str, n: int | None) -> SourceResult:
    """The authors' 2884 training pairs (`data.authors`) as music items: id = pair id, the file and VA labels
    of the EIMG piece its song was tokenised from (for the VA predictor and the literal VA loss), the tokens
    as published, and the song of each pair (`song-<first pair id>`). EIMG comes from $IMG2MUSIC_EIMG_SOURCE
    or a download. A song without an exact EIMG match takes its closest EIMG file, with a warning."""
    published = authors.load(source)
    eimg_items = {item.id: item for item in eimg.load(None).items}
    links = authors.link_to_eimg(published.songs(), authors.tokenize_eimg(None))
    files = {link.song.tokens: link.eimg_ids[0] for link in links.linked}
    warnings = list(published.warnings)
    for mismatch in links.unmatched:
        files[mismatch.song.tokens] = mismatch.closest
        warnings.append(f"song of pair {mismatch.song.pair_ids[0]} has no exact EIMG match: closest EIMG "
                        f"{mismatch.closest}, first difference at token {mismatch.position} "
                        f"({mismatch.authors_token!r} vs ours {mismatch.our_token!r})")
    items, tokens, songs, skipped = [], {}, {}, []
    for song in published.songs():
        item = eimg_items.get(files[song.tokens])
        for pair_id in song.pair_ids:
            if item is None:
                skipped.append(Skipped(pair_id, f"its song's EIMG file {files[song.tokens]} is not usable"))
                continue
            items.append(Item(pair_id, item.path, item.valence, item.arousal))
            tokens[pair_id], songs[pair_id] = song.tokens, f"song-{song.pair_ids[0]}"
    items.sort(key=lambda item: item.id)
    return SourceResult(items, skipped, warnings, tokens=tokens, songs=songs)


SOURCES = {
    source.name: source
    for source in (
        DataSource("authors", ("music",), _authors, authors.ENV_VAR,
                   "the authors' 2884 tokenised training pairs (midiData.txt, 70 distinct songs), linked to EIMG "
                   "for VA labels; downloaded or a local copy"),
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
