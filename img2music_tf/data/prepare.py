"""Prepare a paired data set once: load music and images, pair by emotion, split, write plain files.

The output folder holds music.csv and images.csv (id,path,valence,arousal),
pairs.csv (one row per music piece), split.json (music ids per split), tokens.json
(a source's published tokens per music id, or null when we tokenise the MIDI ourselves),
skipped.csv (source,item,reason), summary.txt, va.png and manifest.json. The
files are written into a hidden folder and moved into place at the end, the
manifest last (`files.staged_files`): a failed or interrupted run leaves the
folder as it was. The manifest records the inputs (source names and locations,
seed, sizes): a later run with the same inputs reads the folder instead of
redoing it; a run with different inputs stops with a message naming the
difference (use another folder, or `overwrite=True` / `--force`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np

from img2music_tf import files
from img2music_tf.data import plots
from img2music_tf.data.items import Item, Skipped, SourceResult
from img2music_tf.data.pairing import SPLITS, Pair, pair_by_emotion, pair_songs, split_ids
from img2music_tf.data.sources import LOADERS
from img2music_tf.errors import UserError
from img2music_tf.paths import SOURCES, source_names

MUSIC_SOURCES = source_names("music")
IMAGE_SOURCES = source_names("image")
MANIFEST = "manifest.json"
TOKENS_FILE = "tokens.json"  # music id -> space-joined tokens, for a source tokenised already (the authors')
OUTPUT_FILES = ("music.csv", "images.csv", "pairs.csv", "split.json", TOKENS_FILE, "skipped.csv", "summary.txt",
                "va.png", MANIFEST)
FORMAT_VERSION = 1
LISTED_SKIPS = 20


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """A prepared folder: items, pairs (one per music piece), split of music ids, what was skipped."""

    out: Path
    music: list[Item]
    images: list[Item]
    pairs: list[Pair]
    split: dict[str, list[str]]
    skipped: dict[str, list[Skipped]] = dataclasses.field(default_factory=dict)
    summary: str = ""
    reused: bool = False  # True when `prepare` found the folder already prepared from the same inputs
    tokens: dict[str, tuple[str, ...]] | None = None  # music id -> tokens, for sources tokenised already

    def pairs_in(self, split_name: str) -> list[Pair]:
        """The pairs whose music id is in split `split_name` ("train", "val" or "test")."""
        if split_name not in self.split:
            raise UserError(f"unknown split {split_name!r}; choose one of {', '.join(self.split)}")
        wanted = set(self.split[split_name])
        return [pair for pair in self.pairs if pair.music.id in wanted]


def load_source(name: str, kind: str, source: str | Path | None = None, n: int | None = None) -> SourceResult:
    """Items of source `name` used as `kind` ("music" or "image").

    With `n`, at most n items, spread evenly over the id order (so a subset of Emotion6, whose ids start
    with the emotion, covers all six); the built-in source simply builds n.
    """
    allowed = MUSIC_SOURCES if kind == "music" else IMAGE_SOURCES
    if name not in allowed:
        raise UserError(f"{name!r} is not a {kind} source; choose one of {', '.join(allowed)}")
    result = LOADERS[name](source, kind, n)
    if n is not None and n < len(result.items):
        chosen = np.linspace(0, len(result.items) - 1, max(n, 1)).round().astype(int)  # (n,) distinct indices
        result = dataclasses.replace(result, items=[result.items[i] for i in chosen])
    if not result.items:
        raise UserError(f"{name} has no usable {kind} items ({len(result.skipped)} skipped)")
    return result


def prepare(
    music: str = "eimg",
    images: str = "emotion6",
    out: str | Path = "data/prepared",
    music_source: str | Path | None = None,
    image_source: str | Path | None = None,
    seed: int = 0,
    n_test: int = 100,
    n_val: int = 16,
    n_music: int | None = None,
    n_images: int | None = None,
    overwrite: bool = False,
) -> PreparedData:
    """Load, pair and split (paper Section 3.1) into `out`, or read `out` if it was prepared from the same inputs."""
    out = Path(out)
    inputs = {
        "format": FORMAT_VERSION, "music": music, "images": images,
        "music_source": _where(music, music_source), "image_source": _where(images, image_source),
        "seed": seed, "n_test": n_test, "n_val": n_val, "n_music": n_music, "n_images": n_images,
    }
    for role in ("music_source", "image_source"):  # its CSVs would mix with the source's own, or replace them
        source = Path(inputs[role])
        if out.expanduser().resolve() in (source, source.parent):
            raise UserError(f"--out {out} is the folder of the {role.replace('_', ' ')} {source}: prepare into "
                            "another folder")
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8")).get("inputs", {})
            if not isinstance(recorded, dict):
                raise TypeError("its inputs are not a JSON object")
        except (OSError, ValueError, TypeError, AttributeError) as error:
            if not overwrite:
                raise UserError(f"{out} is damaged (cannot read its {MANIFEST}: {error}); prepare it again with "
                                "--force") from None
            recorded = None
        if recorded == inputs:
            return dataclasses.replace(load_prepared(out), reused=True)
        if not overwrite:
            changed = ", ".join(f"{k} {recorded.get(k)!r} -> {v!r}" for k, v in inputs.items() if recorded.get(k) != v)
            raise UserError(f"{out} was prepared from other inputs ({changed}); use a new --out folder or --force")
    with files.output_dir(out), files.staged_files(out, last=MANIFEST) as staging:
        music_result = load_source(music, "music", music_source, n_music)
        image_result = load_source(images, "image", image_source, n_images)
        music_items, tokens = music_result.items, None
        if music_result.songs is None:
            pairs = pair_by_emotion(music_items, image_result.items)
            split = split_ids([pair.music.id for pair in pairs], seed, n_test, n_val)
        else:  # the source fixes its training pairs (the authors' data): see `pairing.pair_songs`
            music_items, pairs, split, song_of = pair_songs(
                music_items, music_result.songs, image_result.items, seed, n_test, n_val)
            by_song = {music_result.songs[i]: sequence for i, sequence in music_result.tokens.items()}
            tokens = {item.id: by_song[song_of[item.id]] for item in music_items}
        data = PreparedData(
            out, music_items, image_result.items, pairs, split,
            {"music": music_result.skipped, "images": image_result.skipped}, tokens=tokens,
        )
        summary = summarize(data, inputs, music_result.warnings + image_result.warnings)
        _write_items(staging / "music.csv", data.music)
        _write_items(staging / "images.csv", data.images)
        files.write_text(staging / "pairs.csv", _csv_text(
            ["music_id", "image_id", "score", "music_valence", "music_arousal", "image_valence", "image_arousal",
             "music_path", "image_path"],
            [[p.music.id, p.image.id, p.score, p.music.valence, p.music.arousal, p.image.valence, p.image.arousal,
              p.music.path, p.image.path] for p in pairs],
        ))
        files.write_json(staging / "split.json", split)
        # always written (null when the music is tokenised by us), so a re-prepared folder never keeps stale tokens
        files.write_json(staging / TOKENS_FILE, None if tokens is None else
                         {item_id: " ".join(sequence) for item_id, sequence in tokens.items()})
        files.write_text(staging / "skipped.csv", _csv_text(
            ["source", "item", "reason"],
            [[role, s.item, s.reason] for role, skipped in data.skipped.items() for s in skipped],
        ))
        files.write_text(staging / "summary.txt", summary)
        plots.plot_va(data.music, data.images, staging / "va.png", f"music: {music}, images: {images}")
        counts = {"music": len(data.music), "images": len(data.images), "pairs": len(pairs)}
        files.write_json(staging / MANIFEST,
                         {"inputs": inputs, "counts": counts, "split": {k: len(v) for k, v in split.items()}})
    return dataclasses.replace(data, summary=summary)


def load_prepared(out: str | Path) -> PreparedData:
    """Read a folder written by `prepare`; UserError if it is incomplete, damaged or its files have gone."""
    out = Path(out)
    if not (out / MANIFEST).is_file():
        raise UserError(f"{out} is not a prepared data folder (no {MANIFEST}); run `img2music data prepare --out {out}`")
    try:
        return _load_prepared(out)
    except (KeyError, ValueError, TypeError, AttributeError) as error:  # a file edited or cut short since
        raise UserError(f"{out} is damaged ({type(error).__name__}: {error}); prepare it again with --force") from None


def _load_prepared(out: Path) -> PreparedData:
    if not isinstance(_read_json(out / MANIFEST), dict):
        raise TypeError(f"{MANIFEST} is not a JSON object")
    split = _read_json(out / "split.json")
    if not (isinstance(split, dict) and all(isinstance(split.get(name), list) for name in SPLITS)
            and all(isinstance(i, str) for name in SPLITS for i in split[name])):
        raise TypeError(f"split.json does not list the music ids of {', '.join(SPLITS)}")
    music = {item.id: item for item in _read_items(out / "music.csv")}
    images = {item.id: item for item in _read_items(out / "images.csv")}
    missing = [str(i.path) for i in [*music.values(), *images.values()] if not i.path.is_file()]
    if missing:
        raise UserError(f"{len(missing)} data files listed in {out} are gone (e.g. {missing[0]}); prepare again with --force")
    pairs = [Pair(music[r["music_id"]], images[r["image_id"]], float(r["score"])) for r in _read_csv(out / "pairs.csv")]
    skipped: dict[str, list[Skipped]] = {"music": [], "images": []}
    for row in _read_csv(out / "skipped.csv"):
        skipped.setdefault(row["source"], []).append(Skipped(row["item"], row["reason"]))
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    published = _read_json(out / TOKENS_FILE) if (out / TOKENS_FILE).is_file() else None
    tokens = None if published is None else {item_id: tuple(text.split()) for item_id, text in published.items()}
    return PreparedData(out, list(music.values()), list(images.values()), pairs, split, skipped, summary,
                        tokens=tokens)


def summarize(data: PreparedData, inputs: dict, warnings: list[str]) -> str:
    """The printed summary: counts, VA ranges, pairing, split, warnings and skipped files."""
    lines = []
    for role, items, name, where in (
        ("music", data.music, inputs["music"], inputs["music_source"]),
        ("images", data.images, inputs["images"], inputs["image_source"]),
    ):
        v, a = np.array([i.valence for i in items]), np.array([i.arousal for i in items])
        lines.append(
            f"{role}: {name} ({where}): {len(items)} items, {len(data.skipped[role])} skipped; "
            f"valence {v.min():.2f}-{v.max():.2f} (mean {v.mean():.2f}), arousal {a.min():.2f}-{a.max():.2f} (mean {a.mean():.2f})"
        )
    scores = np.array([p.score for p in data.pairs])
    uses = np.unique([p.image.id for p in data.pairs], return_counts=True)[1]
    distances = np.where(np.isinf(scores), 0.0, 1.0 / scores)
    how = ("each music piece with its most similar image" if data.tokens is None else
           "the source's training pairs, each song spread over its most similar distinct images; held-out "
           "test and validation images each with its most similar song")
    lines.append(
        f"pairs: {len(data.pairs)} ({how}); {len(uses)} distinct images "
        f"(most used {uses.max()} times); exact VA matches {int(np.isinf(scores).sum())}; "
        f"VA distance median {np.median(distances):.3f}, max {distances.max():.3f}"
    )
    lines.append(f"split (seed {inputs['seed']}): " + ", ".join(f"{k} {len(data.split[k])}" for k in SPLITS))
    if data.tokens is not None:
        train = [data.tokens[i] for i in data.split["train"]]
        lines.append(f"tokens as published: {len(set(train))} distinct songs over the {len(train)} training pairs, "
                     f"{len({t for song in train for t in song})} distinct tokens, longest {max(map(len, train))}")
    if warnings:
        lines += [f"warnings ({len(warnings)}):", *(f"  {w}" for w in warnings)]
    skipped = [(role, s) for role, items in data.skipped.items() for s in items]
    if skipped:
        lines.append(f"skipped ({len(skipped)}, all in skipped.csv):")
        lines += [f"  {role} {s.item}: {s.reason}" for role, s in skipped[:LISTED_SKIPS]]
        if len(skipped) > LISTED_SKIPS:
            lines.append(f"  ... and {len(skipped) - LISTED_SKIPS} more")
    lines.append(f"written to {data.out}: {' '.join(name for name in OUTPUT_FILES if name != MANIFEST)}")
    return "\n".join(lines) + "\n"


def _where(name: str, source: str | Path | None) -> str:
    """Where a source's files come from, for the manifest: a resolved local path, or 'download'/'cache'."""
    env_var = SOURCES[name].env_var
    if source is None and env_var:
        source = os.environ.get(env_var) or None
    if source is None:
        return "cache" if name == "builtin" else "download"
    return str(Path(source).expanduser().resolve())


def _write_items(target: Path, items: list[Item]) -> None:
    files.write_text(target, _csv_text(
        ["id", "path", "valence", "arousal"], [[i.id, i.path, i.valence, i.arousal] for i in items]
    ))


def _read_items(path: Path) -> list[Item]:
    return [Item(r["id"], Path(r["path"]), float(r["valence"]), float(r["arousal"])) for r in _read_csv(path)]


def _csv_text(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; prepare the folder again with --force") from None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
