"""How every data source loads: `LOADERS`, keyed by the names of the registry `paths.SOURCES`.

A new source is a module with a `load` function, one entry in `paths.SOURCES` (its kinds, description and
local-copy variable, which `data prepare`'s choices and help read) and one loader here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from img2music_tf.data import authors, builtin, eimg, emid, emotion6, folder
from img2music_tf.data.items import Item, Skipped, SourceResult
from img2music_tf.paths import BUILTIN_ITEMS


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


LOADERS: dict[str, Callable[[str | Path | None, str, int | None], SourceResult]] = {
    "authors": _authors,
    "eimg": lambda source, kind, n: eimg.load(source),
    "emotion6": lambda source, kind, n: emotion6.load(source),
    "emid": lambda source, kind, n: emid.load(source),
    "builtin": lambda source, kind, n: builtin.load(source, kind=kind, n=n or BUILTIN_ITEMS),
    "folder": lambda source, kind, n: folder.load(source, kind=kind),
}
"""Source name (a key of `paths.SOURCES`) -> `load(source, kind, n)`, where `source` is a local copy (None: the
source's environment variable, else a download) and `n` the number of items to make (built-in only)."""
