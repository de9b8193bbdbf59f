"""The authors' tokenised training pairs (`midiData.txt`) as a data source, and their link to EIMG.

The authors published their training data already tokenised: `midiData.txt` at
github.com/SourajaKundu/Emotion-Guided-Image-to-Music-Generation (MIT), one line
per image-music PAIR, `<4-digit pair id> <start> <tempo> <time> ... <end>`. The
2884 pairs hold only 70 distinct songs (see datasets/authors/README.md). Their
tokens are used exactly as published, never re-tokenised; `link_to_eimg` finds
which EIMG file each song came from by exact match with our tokenizer's output,
which is how the tokenizer is checked against the authors' (docs/fidelity.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from img2music_tf.corpus import tokenize_source
from img2music_tf.data import download, eimg
from img2music_tf.errors import UserError
from img2music_tf.paths import SOURCES

ENV_VAR = SOURCES["authors"].env_var
COMMIT = "ae876bdba0a9570dd3e21688c7dcd52ee7d77013"
MIDI_DATA = download.Remote(
    "midiData.txt",
    f"https://raw.githubusercontent.com/SourajaKundu/Emotion-Guided-Image-to-Music-Generation/{COMMIT}/midiData.txt",
    "d8bb7966912d58ee07f0357f2da5bd88a6cb3c2b851d7a6745ccc27be47d7717",
    ENV_VAR,
)
LAST_PAIR_ID = 3000  # pair ids run 0001-3000; the ids missing from midiData.txt were held out (test + val)


@dataclass(frozen=True)
class Song:
    """One distinct token sequence of midiData.txt and the pair ids (sorted) that use it."""

    tokens: tuple[str, ...]
    pair_ids: tuple[str, ...]


@dataclass(frozen=True)
class AuthorsPairs:
    """The published pairs: pair id -> tokens (as published), where they were read, and warnings."""

    pairs: Mapping[str, tuple[str, ...]]
    path: Path
    warnings: tuple[str, ...] = ()

    def songs(self) -> tuple[Song, ...]:
        """The distinct songs, in order of their first pair id."""
        return distinct_songs(self.pairs)

    def held_out_ids(self) -> tuple[str, ...]:
        """Pair ids 0001-3000 absent from the file: the authors' test and validation pairs."""
        return tuple(f"{i:04d}" for i in range(1, LAST_PAIR_ID + 1) if f"{i:04d}" not in self.pairs)


@dataclass(frozen=True)
class Link:
    """A song found among our EIMG tokens: every EIMG id whose tokens equal it exactly (sorted)."""

    song: Song
    eimg_ids: tuple[str, ...]


@dataclass(frozen=True)
class Mismatch:
    """A song with no exact EIMG match: the closest EIMG file and the first token where they differ.

    `position` indexes the song's tokens; a token is None past the end of its sequence.
    """

    song: Song
    closest: str | None
    position: int
    authors_token: str | None
    our_token: str | None


@dataclass(frozen=True)
class EimgLinks:
    """The outcome of `link_to_eimg`: linked songs and unmatched songs, both in song order."""

    linked: tuple[Link, ...]
    unmatched: tuple[Mismatch, ...]


def load(source: str | Path | None = None) -> AuthorsPairs:
    """Read midiData.txt from `source` (the file or a folder holding it), $IMG2MUSIC_AUTHORS_SOURCE, or a download.

    A download is sha256-checked; a local copy that differs from the published
    file is used as given, with a warning in `warnings`.
    """
    warnings: list[str] = []
    local = download.local_or_env(source, ENV_VAR)
    path = download.fetch(MIDI_DATA) if local is None else download.find_local(MIDI_DATA, local, warnings)
    return AuthorsPairs(read_pairs(path), path, tuple(warnings))


def read_pairs(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Pair id -> tokens of a midiData.txt file (see `parse_pairs`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    return parse_pairs(text, path.name)


def parse_pairs(text: str, name: str = "midiData.txt") -> dict[str, tuple[str, ...]]:
    """Pair id -> tokens from midiData.txt lines `<pair id> <start> ... <end>`; blank lines are skipped.

    Raises UserError naming the line for a malformed line or a repeated pair id.
    """
    pairs: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        pair_id, tokens = fields[0], tuple(fields[1:])
        if not pair_id.isdigit() or len(tokens) < 2 or tokens[0] != "<start>" or tokens[-1] != "<end>":
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise UserError(f"{name} line {number}: expected '<pair id> <start> ... <end>', got {shown!r}")
        if pair_id in pairs:
            raise UserError(f"{name} line {number}: pair id {pair_id} appears twice")
        pairs[pair_id] = tokens
    if not pairs:
        raise UserError(f"{name} holds no pairs")
    return pairs


def distinct_songs(pairs: Mapping[str, Sequence[str]]) -> tuple[Song, ...]:
    """The distinct token sequences of `pairs` with the pair ids using each, in order of first pair id."""
    users: dict[tuple[str, ...], list[str]] = {}
    for pair_id in sorted(pairs):
        users.setdefault(tuple(pairs[pair_id]), []).append(pair_id)
    return tuple(Song(tokens, tuple(ids)) for tokens, ids in users.items())


def link_to_eimg(songs: Sequence[Song], eimg_tokens: Mapping[str, Sequence[str] | None]) -> EimgLinks:
    """Link each song to the EIMG files whose tokens (our tokenizer's) equal it exactly.

    `eimg_tokens` maps EIMG id -> tokens (None for a file that failed). An
    unmatched song is reported with its closest EIMG file: the most tokens in
    common (as a multiset), then the longest common prefix, then the lowest id.
    """
    by_tokens: dict[tuple[str, ...], list[str]] = {}
    for eimg_id in sorted(eimg_tokens):
        if eimg_tokens[eimg_id] is not None:
            by_tokens.setdefault(tuple(eimg_tokens[eimg_id]), []).append(eimg_id)
    linked, unmatched = [], []
    for song in songs:
        if song.tokens in by_tokens:
            linked.append(Link(song, tuple(by_tokens[song.tokens])))
        else:
            unmatched.append(_closest(song, by_tokens))
    return EimgLinks(tuple(linked), tuple(unmatched))


def _closest(song: Song, by_tokens: Mapping[tuple[str, ...], list[str]]) -> Mismatch:
    wanted = Counter(song.tokens)
    best_key, best = None, (None, ())
    for tokens, ids in by_tokens.items():  # in order of lowest id, so a tie keeps the lower id
        key = (sum((Counter(tokens) & wanted).values()), _common_prefix(song.tokens, tokens))
        if best_key is None or key > best_key:
            best_key, best = key, (ids[0], tokens)
    closest, ours = best
    position = _common_prefix(song.tokens, ours)
    return Mismatch(song, closest, position, _at(song.tokens, position), _at(ours, position))


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _at(tokens: Sequence[str], index: int) -> str | None:
    return tokens[index] if index < len(tokens) else None


def tokenize_eimg(source: str | Path | None = None, workers: int = 2,
                  progress: bool = False) -> dict[str, list[str] | None]:
    """EIMG id -> our tokens (None when a file fails), through corpus.py's cache.

    `source` as for `data.eimg.load`: a folder holding dataset.zip (or extracted
    .mid files), the zip itself, $IMG2MUSIC_EIMG_SOURCE, else a download.
    """
    local = download.local_or_env(source, eimg.ENV_VAR)
    if local is None:
        midi = download.fetch(eimg.DATASET)
    elif local.is_dir() and (local / eimg.DATASET.name).is_file():
        midi = local / eimg.DATASET.name
    else:
        midi = local
    return {r.name: r.tokens for r in tokenize_source(midi, workers=workers, progress=progress)}
