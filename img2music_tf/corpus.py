"""Tokenising a whole set of MIDI files (a folder or a zip): cached, in parallel, with a report.

Each file's tokens (or why it failed) are cached under
`cache_dir()/tokens/<key>/` keyed by the sha256 of the file's bytes and
`cache_version()` (tokenizer version + music21 version), so a second run reads
JSON instead of parsing MIDI. Uncached files are tokenised by `workers`
processes (music21 parsing is CPU-bound, and slow: about 0.2-0.5 s a file).
The report gives, beside ours, the authors' figures for their 2884 pairs (docs/fidelity.md, row "vocabulary counts").
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import re
import statistics
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Iterable

from img2music_tf import interrupts
from img2music_tf.errors import UserError
from img2music_tf.files import check_zip, write_json, write_text
from img2music_tf.paths import cache_dir
from img2music_tf.tokenizer import TOKENIZER_VERSION, encode_midi
from img2music_tf.tokens import TokenizeError, parse_token

MIDI_SUFFIXES = (".mid", ".midi")
TOKEN_KINDS = ("note", "chord", "rest", "tempo", "time")
# The authors' figures (docs/fidelity.md, row "vocabulary counts"), printed beside ours; 236 is often quoted as the
# longest, but the longest line of their midiData.txt holds 235 tokens after its pair id (236 words with the id).
AUTHORS = {"tokenised": 2884, "files": 3000, "vocabulary": 977, "longest": 235, "median": 80,
           "distinct": {"note": 440, "chord": 458, "rest": 35, "tempo": 38, "time": 4}}


@dataclass(frozen=True)
class Tokenized:
    """One file's outcome: `tokens`, or `error` saying why it could not be tokenised."""

    name: str
    tokens: list[str] | None
    error: str | None = None


def cache_version() -> str:
    """What a cached result depends on besides the file's bytes."""
    return f"v{TOKENIZER_VERSION}-music21-{version('music21')}"


def read_midi_source(source: str | Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of every .mid/.midi file in a folder (recursively) or a zip, sorted by name."""
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
        found = [(p.relative_to(source).with_suffix("").as_posix(), p.read_bytes()) for p in paths]
    elif source.is_file() and (zipfile.is_zipfile(source) or source.suffix.lower() == ".zip"):
        check_zip(source)  # a zip cut short, or a member failing its checksum: one line
        with zipfile.ZipFile(source) as archive:
            members = sorted(
                m for m in archive.namelist()
                if m.lower().endswith(MIDI_SUFFIXES) and not m.startswith("__MACOSX/")
            )
            found = [(Path(m).with_suffix("").name, archive.read(m)) for m in members]
    elif source.exists():
        raise UserError(f"{source} is neither a folder nor a zip of MIDI files")
    else:
        raise UserError(f"no such folder or zip: {source}")
    if not found:
        raise UserError(f"no .mid or .midi files in {source}")
    return found


def tokenize_source(source: str | Path, workers: int = 2, use_cache: bool = True,
                    progress: bool = True) -> list[Tokenized]:
    """Tokenise every MIDI file of a folder or zip (see `tokenize_files`)."""
    return tokenize_files(read_midi_source(source), workers, use_cache, progress)


def tokenize_paths(paths: Iterable[str | Path], workers: int = 2, use_cache: bool = True,
                   progress: bool = True) -> list[Tokenized]:
    """Tokenise MIDI files given by path; names are the file stems."""
    return tokenize_files([(Path(p).stem, Path(p).read_bytes()) for p in paths], workers, use_cache, progress)


def tokenize_files(files: list[tuple[str, bytes]], workers: int = 2, use_cache: bool = True,
                   progress: bool = True) -> list[Tokenized]:
    """Tokenise (name, bytes) pairs, in input order, reading and filling the on-disk cache."""
    from tqdm import tqdm

    folder = cache_dir() / "tokens" / cache_version()
    keys = [hashlib.sha256(data).hexdigest() for _, data in files]
    results: dict[int, Tokenized] = {}
    todo = []
    for index, ((name, data), key) in enumerate(zip(files, keys)):
        cached = _read_cached(folder / f"{key}.json") if use_cache else None
        if cached is None:
            todo.append((index, name, data))
        else:
            results[index] = Tokenized(name, cached.get("tokens"), cached.get("error"))
    bar = tqdm(total=len(files), initial=len(results), desc="tokenising MIDI", unit="file",
               disable=None if progress else True)  # None: no bar where stderr is not a terminal
    with bar:
        for index, tokens, error in _run(todo, workers):
            results[index] = Tokenized(files[index][0], tokens, error)
            write_json(folder / f"{keys[index]}.json", {"tokens": tokens, "error": error})
            bar.update()
    return [results[i] for i in range(len(files))]


def _read_cached(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _run(todo: list[tuple[int, str, bytes]], workers: int):
    """Yield (index, tokens, error) as files finish; `workers` > 1 uses that many processes."""
    if workers <= 1 or len(todo) <= 1:
        yield from map(_tokenize_one, todo)
        return
    # spawn, not fork: the caller may hold TensorFlow threads, which fork does not survive
    with multiprocessing.get_context("spawn").Pool(workers, initializer=interrupts.ignored_in_worker) as pool:
        yield from pool.imap_unordered(_tokenize_one, todo, chunksize=4)


def _tokenize_one(job: tuple[int, str, bytes]) -> tuple[int, list[str] | None, str | None]:
    index, name, data = job
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{Path(name).name}.mid"
        path.write_bytes(data)
        try:
            return index, encode_midi(path), None
        except TokenizeError as error:
            return index, None, str(error)


def failure_reason(error: str) -> str:
    """Group key of an error message: file names and music21's details dropped."""
    reason = re.sub(r"^(cannot parse|music21 failed on) \S+?:", r"\1:", error)
    return ":".join(reason.split(":")[:2]).strip()


def corpus_report(results: list[Tokenized]) -> dict:
    """Counts, failure reasons, vocabulary size, sequence lengths and token kinds of a tokenised set."""
    sequences = [r.tokens for r in results if r.tokens is not None]
    lengths = [len(s) for s in sequences]
    distinct: dict[str, set[str]] = {kind: set() for kind in TOKEN_KINDS}
    total: Counter = Counter()
    for sequence in sequences:
        for token in sequence:
            kind = parse_token(token).kind
            if kind in distinct:
                distinct[kind].add(token)
                total[kind] += 1
    return {
        "files": len(results),
        "tokenised": len(sequences),
        "failed": len(results) - len(sequences),
        "failures": dict(Counter(failure_reason(r.error) for r in results if r.error).most_common()),
        "failed_files": sorted(r.name for r in results if r.error),
        "vocabulary": len(set().union(*sequences)) if sequences else 0,
        "longest": max(lengths, default=0),
        "median": statistics.median(lengths) if lengths else 0,
        "tokens": {kind: {"distinct": len(distinct[kind]), "total": total[kind]} for kind in TOKEN_KINDS},
        "cache_version": cache_version(),
    }


def format_report(report: dict) -> str:
    """The report as plain text, the authors' figures in brackets."""
    a = AUTHORS
    lines = [
        f"files tokenised: {report['tokenised']} of {report['files']} "
        f"[authors: {a['tokenised']} of {a['files']}]",
        f"failed: {report['failed']}",
        *[f"  {count:5d}  {reason}" for reason, count in report["failures"].items()],
        f"vocabulary (distinct tokens incl. <start>, <end>): {report['vocabulary']} [authors: {a['vocabulary']}]",
        f"sequence length: longest {report['longest']} [authors: {a['longest']}], "
        f"median {report['median']:g} [authors: about {a['median']}]",
        "tokens by kind: distinct / total",
        *[
            f"  {kind:6s} {report['tokens'][kind]['distinct']:5d} / {report['tokens'][kind]['total']:7d}"
            f"  [authors: {a['distinct'][kind]} distinct]"
            for kind in TOKEN_KINDS
        ],
    ]
    return "\n".join(lines)


def write_sequences(results: list[Tokenized], path: str | Path) -> Path:
    """Write `name tokens...` lines, one per tokenised file (the authors' midiData.txt layout)."""
    lines = [f"{r.name} {' '.join(r.tokens)}" for r in results if r.tokens is not None]
    return write_text(path, "\n".join(lines) + "\n")
