"""What argmax ids read through another process's id -> token map would have given (not in the paper).

The authors fitted their tokenizer on a Python `set` of tokens (docs/fidelity.md, "Token ids depend on Python's
hash seed"): Keras' Tokenizer numbers the tokens 1, 2, ... in the order it meets them, here the set's iteration
order (every token is met once, so the count sort keeps that order), which follows the string hashes and so
`PYTHONHASHSEED`, drawn afresh by each process. A model trained in one process and decoded in a new one had its
argmax ids read through another map. Assumption: every token of the set moves, `<start>` and `<end>` included
(they are in the set like any token); only id 0 stays put, since padding is no token of the set.

`process_vocabulary` builds the map a process with a given hash seed fits (this interpreter's set order, the
tokens inserted in id order; the authors inserted them song by song, which changes only which of two colliding
tokens comes first). `reread` reads the ids a run's model emitted through another map, `measure` scores a run's
greedy test pieces as generated and re-read through several maps: the three metrics, Music_Quality_Loss and
loop types (`metrics.summarize`, `loops.loop_type`). `chord_shares` says how much of a vocabulary, and of the
music, chords of 3 or more notes are: a collapsed model loops one id, and a random map makes it such a chord
about as often as the vocabulary holds them. `measure_table` measures the pieces a table result holds, its runs'
vocabularies built again from the prepared data they recorded, or, where that folder is not here, from the data
the table's settings record, prepared once into the reproduction's work folder (`reproduction_data`).

Re-reading keeps the model's own ids: it does not run the model again. In the new process the model would also
have been fed that process's `<start>` id first and stopped at its `<end>` id; re-reading stops where the model
emitted its own `<end>` id (the piece's ids end there) or earlier, where the other map reads an id as `<end>`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from img2music_tf import loops, metrics
from img2music_tf.data.prepare import load_prepared
from img2music_tf.errors import UserError
from img2music_tf.experiments import DATA_REGIMES, Scale
from img2music_tf.paths import project_dir, shown
from img2music_tf.run_folder import VOCABULARY_FILE, RunInfo, read_test_tokens, trained_epochs
from img2music_tf.study.artefacts import Settings
from img2music_tf.study.pipeline import generated_test_tokens, prepare_data, trained_songs
from img2music_tf.tokens import END, START
from img2music_tf.vocabulary import PAD, Vocabulary

SET_ORDER = "import json, sys; print(json.dumps(list(set(json.load(sys.stdin)))))"
"""A new process's set order of the tokens it reads (JSON list on stdin): what the authors' tokenizer numbered."""
MAX_HASH_SEED = 2**32 - 1  # PYTHONHASHSEED's range


def process_vocabulary(vocabulary: Vocabulary, hash_seed: int) -> Vocabulary:
    """The id -> token map a process started with PYTHONHASHSEED=`hash_seed` fits on the set of `vocabulary`'s
    tokens: padding keeps id 0, every other token takes the id of its place in that process's set order."""
    if not 0 <= hash_seed <= MAX_HASH_SEED:
        raise UserError(f"a hash seed runs from 0 to {MAX_HASH_SEED}, got {hash_seed}")
    environment = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    done = subprocess.run([sys.executable, "-c", SET_ORDER], input=json.dumps(vocabulary.tokens[1:]),
                          capture_output=True, text=True, env=environment, check=True)
    return Vocabulary([PAD, *json.loads(done.stdout)])


def reread(tokens: Sequence[str], own: Vocabulary, other: Vocabulary) -> list[str]:
    """A piece generated with the map `own` (`<start>`, the ids the model emitted, `<end>` where it stopped), its
    emitted ids read through `other`, as the authors' decoding loop reads them: an id read as `<end>` ends the
    piece there, one read as `<start>` is left out. The model's own stop (its `<end>` id, last) is not re-read:
    it is where the ids end."""
    ids = own.encode(tokens)
    if not ids or ids[0] != own.start_id:
        raise UserError(f"a generated piece starts with {START!r}, this one with {tokens[:1]}")
    emitted = ids[1:-1] if len(ids) > 1 and ids[-1] == own.end_id else ids[1:]
    read = [START]
    for token in (other.tokens[i] for i in emitted):
        if token == END:
            return [*read, END]
        if token != START:
            read.append(token)
    return read + [END] * (ids[-1] == own.end_id and len(ids) > 1)


def score(pieces: Sequence[Sequence[str]], cache: dict) -> dict:
    """One row for a set of pieces: means of the three metrics (95% t intervals), Music_Quality_Loss against the
    paper's reference values, and how many pieces are of each loop type. `cache` keeps each distinct piece's
    metrics (greedy pieces repeat, and a loop re-read through another map is often a loop met before)."""
    for piece in map(tuple, pieces):
        if piece not in cache:
            cache[piece] = metrics.token_metrics(piece)
    table = np.array([[cache[tuple(p)][name] for name in metrics.METRIC_NAMES] for p in pieces], float)  # (N, 3)
    row = metrics.summarize(table)
    row["loop_types"] = dict(Counter(loops.loop_type(piece) for piece in pieces))
    return row


def measure(pieces: Sequence[Sequence[str]], vocabulary: Vocabulary, hash_seeds: Iterable[int]) -> dict:
    """`pieces` (a run's greedy test pieces, generated with `vocabulary`) scored as generated and re-read through
    the map of each hash seed (`process_vocabulary`), with the mean, sd, min and max over the maps of each
    headline number (`spread`)."""
    cache: dict = {}
    generated = score(pieces, cache)
    maps = []
    for seed in hash_seeds:
        other = process_vocabulary(vocabulary, seed)
        maps.append({"hash_seed": seed, **score([reread(p, vocabulary, other) for p in pieces], cache)})
    spread = {}
    for name in ("music_quality_loss", *metrics.METRIC_NAMES):
        values = np.array([metrics.headline(row, name) for row in maps], float)
        values = values[~np.isnan(values)]
        spread[name] = {"mean": float(values.mean()) if values.size else float("nan"),
                        "sd": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
                        "min": float(values.min()) if values.size else float("nan"),
                        "max": float(values.max()) if values.size else float("nan"),
                        "n_maps": int(values.size)}
    return {"generated": generated, "maps": maps, "spread": spread}


def measure_run(run_dir: str | Path, hash_seeds: Sequence[int], prepared: str | Path | None = None,
                epoch: int | None = None) -> dict:
    """`measure` on a run folder's greedy pieces for its test pairs (one per pair, as the tables count them),
    after `epoch` (default: its last): the test tokens a run trained elsewhere brought, else decoded here from its
    net. `prepared`: the prepared data holding its test split, where the folder its config.json records is not here."""
    run_dir = Path(run_dir)
    info = RunInfo.read(run_dir)
    epoch = epoch or trained_epochs(run_dir)
    data = _prepared(info, prepared)
    pairs = data.pairs_in("test")
    stored = read_test_tokens(run_dir, epoch) is not None
    music = generated_test_tokens(pairs, run_dir, epoch)
    pieces = [music[pair.image.id] for pair in pairs]
    source = f"`{shown(run_dir)}`, " + ("test tokens stored in the run" if stored else "decoded here from its net")
    return _record(info, epoch, source, data, measure(pieces, Vocabulary.load(run_dir / VOCABULARY_FILE), hash_seeds))


def measure_table(table: dict, hash_seeds: Sequence[int], prepared: str | Path | None = None) -> list[dict]:
    """`measure_table_run` on every run (a seed of a row) a table result holds, in its rows' order. Where a run's
    recorded prepared folder is not here and no `prepared` is given, the data the table's settings record
    (`reproduction_data`: prepared once into the reproduction's work folder, then reused)."""
    entries = [entry for row in table["rows"].values() for entry in row["seeds"]]
    if prepared is None and not all(_recorded_here(RunInfo.from_dict(entry["run_config"])) for entry in entries):
        prepared = reproduction_data(table["settings"])
    return [measure_table_run(entry, hash_seeds, prepared) for entry in entries]


def reproduction_data(settings: dict) -> Path:
    """The prepared folder of the reproduction a table result's "settings" record (its data regime, the sizes
    of its scale, its work folder: relative ones are under the project folder), prepared as `artefacts.Context`
    prepares it (`pipeline.prepare_data` into `Settings.data_root / "prepared"`) where it is not yet there, and
    reused where it is."""
    fields = {field.name for field in dataclasses.fields(Scale)}
    scale = Scale(**{key: value for key, value in settings["scale_sizes"].items() if key in fields})
    work = project_dir() / settings["work"]  # an absolute recorded folder stays as it is
    reproduction = Settings(scale=scale, seeds=tuple(settings["seeds"]), data=settings["data"], out=work,
                            work=work, fidelity=settings["fidelity"])
    out = reproduction.data_root / "prepared"
    print(f"the table's recorded prepared data is not here: {settings['data']} data at {scale.name} scale "
          f"prepared as its settings say in {shown(out)} (reused once there)")
    music, images = DATA_REGIMES[settings["data"]]
    return prepare_data(music, images, out, scale).out


def measure_table_run(entry: dict, hash_seeds: Sequence[int], prepared: str | Path | None = None) -> dict:
    """`measure` on the pieces a table result holds for one run (an entry of a row's "seeds" in table1.json:
    "run_config", "epoch", "pieces" with their "tokens"), for when the run folder is not here. Its vocabulary is
    built again from the training songs of the prepared data it recorded (`prepared` where that is not here), as
    training built it, and must have the run's recorded sha256."""
    info = RunInfo.from_dict(entry["run_config"])
    data = _prepared(info, prepared)
    vocabulary = Vocabulary.build(trained_songs(data, info.max_songs).values())
    if vocabulary.sha256 != info.vocabulary_sha256:
        raise UserError(f"the training songs of {data.out} give another vocabulary than {entry['run']} had: "
                        "name the prepared data it was trained on")
    pieces = [piece["tokens"].split() for piece in entry["pieces"]]
    return _record(info, entry["epoch"], f"`{entry['run']}`, its pieces as the table holds them", data,
                   measure(pieces, vocabulary, hash_seeds))


def _recorded_here(info: RunInfo) -> bool:
    recorded = info.data.get("prepared")
    return bool(recorded) and Path(recorded).is_dir()


def _prepared(info: RunInfo, fallback: str | Path | None):
    """The prepared data the run recorded, where it is here, else `fallback`."""
    recorded = info.data.get("prepared")
    chosen = recorded if _recorded_here(info) else fallback
    if not chosen:
        raise UserError(f"the run's prepared data folder ({recorded or 'none recorded'}) is not here; name the one "
                        "holding its test split and training songs")
    return load_prepared(chosen)


def _record(info: RunInfo, epoch: int, source: str, data, measured: dict) -> dict:
    """A measured run with what it is: preset, scale, data, songs, epoch, image weights, seed, where the pieces
    came from."""
    return {
        "preset": info.model.name, "scale": info.model.scale, "epoch": epoch,
        "music": info.data.get("inputs", {}).get("music"), "songs": info.max_songs, "seed": info.seed,
        "image_weights": info.image_weights, "vocabulary": info.model.vocab_size, "prepared": shown(data.out),
        "source": source, **measured,
    }


def chord_shares(songs: Iterable[Sequence[str]]) -> dict:
    """How much of the songs' vocabulary, and of their sounding tokens as played, are chords of 3 or more notes.

    Sounding tokens are the notes and chords that play (`loops.sounding_sets`: not rests, tempo, time, markers or
    0-long grace tokens). `vocabulary_share`: of the distinct sounding tokens; `frequency_share`: of all sounding
    tokens in the songs; `share_of_all_tokens`: of the distinct tokens of every kind (what a random map lands on).
    """
    counts = Counter(token for song in songs for token in song)
    sizes = {token: len(sets[0]) for token in counts if (sets := loops.sounding_sets([token]))}
    chords = {token for token, size in sizes.items() if size >= 3}
    sounding_count = sum(counts[token] for token in sizes)
    return {
        "tokens": len(counts),
        "sounding_tokens": len(sizes),
        "chords_of_3_or_more": len(chords),
        "vocabulary_share": len(chords) / len(sizes),
        "frequency_share": sum(counts[token] for token in chords) / sounding_count,
        "share_of_all_tokens": len(chords) / len(counts),
    }
