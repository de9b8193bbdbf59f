"""The steps of an experiment, one function each, shared by the demo, the CLI and the reproduction.

    prepare_data -> train_va_predictor -> train_model -> generate_test_music -> (metrics)

`img2music demo` runs them on the built-in data, `img2music reproduce` (and `make table1`) on the
pairs of a data regime (`experiments.DATA_REGIMES`: the authors' pairs or all of EIMG, with Emotion6
images) for every preset of an artefact, `img2music train` runs `train_model`.
Sizes come from an `experiments.Scale`; the model from `presets.get_preset`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from img2music_tf import metrics, tokens
from img2music_tf.data.prepare import prepare
from img2music_tf.decode import GenerationConfig, generate_tokens
from img2music_tf.errors import UserError
from img2music_tf.experiments import Scale
from img2music_tf.files import write_json
from img2music_tf.memorisation import SongIndex
from img2music_tf.models.va_predictor import CONFIG_FILE, MODEL_FILE, VAPredictor, VAPredictorConfig
from img2music_tf.run_folder import CHECKPOINT_FILE, is_finished, load_run, read_test_tokens, trained_epochs
from img2music_tf.training_run import tokenize_pairs, train_run
from img2music_tf.va_training import VATrainConfig, train_on_items

EXISTING = ("error", "resume", "overwrite", "reuse")
"""What `train_model` does with a run folder that already holds a run (see there)."""


def prepare_data(music: str, images: str, out: str | Path, scale: Scale, seed: int = 0, overwrite: bool = False,
                 **sources):
    """Music and images paired by emotion and split (Section 3.1), prepared once into `out` and reused.

    `scale` sets how many items are read (`n_items`) and the test/validation sizes; `sources` passes
    `music_source` / `image_source` (local copies) through to `data.prepare.prepare`.
    """
    return prepare(music=music, images=images, out=out, seed=seed, n_test=scale.n_test, n_val=scale.n_val,
                   n_music=scale.n_items, n_images=scale.n_items, overwrite=overwrite, **sources)


def va_predictor_config(scale: Scale, batchnorm: bool):
    """The music VA predictor's architecture at `scale`: BatchNorm as the run's fidelity says, unless the
    scale fixes it (the demo's small data)."""
    hidden = {} if scale.va_hidden_units is None else {"hidden_units": scale.va_hidden_units}
    return VAPredictorConfig(batchnorm=batchnorm if scale.va_batchnorm is None else scale.va_batchnorm, **hidden)


def train_va_predictor(prepared, out: str | Path, scale: Scale, batchnorm: bool, seed: int = 0,
                       reuse: bool = True, split: dict[str, list[str]] | None = None) -> Path:
    """A music VA predictor (Wang et al.'s MLP) trained on the prepared training split's music, saved in `out`.

    `split`: music ids per split, instead of the prepared split (a judge of the music must not share the
    loss's predictor's split: `alignment`). With `reuse`, a predictor already saved in `out` is kept.
    Returns `out`; its `metrics.json` holds the test figures beside the always-the-mean baseline.
    """
    out = Path(out)
    if reuse and (out / MODEL_FILE).is_file() and (out / CONFIG_FILE).is_file():
        return out
    epochs = {} if scale.va_epochs is None else {"epochs": scale.va_epochs}
    train_config = VATrainConfig(patience=scale.va_patience, seed=seed, **epochs)
    train_on_items(prepared.music, out, va_predictor_config(scale, batchnorm), train_config,
                   split=prepared.split if split is None else split)
    return out


def train_model(prepared, config, out: str | Path, seed: int = 0, image_weights: str = "imagenet",
                va_predictor: str | Path | None = None, max_songs: int | None = None, existing: str = "error",
                verbose: int = 1, snapshot_epochs: tuple[int, ...] = ()) -> Path:
    """Train one model (a `presets.ModelConfig`) into the run folder `out`, and return `out`.

    `existing` says what to do when `out` already holds a run: "error" (say so), "resume" (continue
    it from its last checkpoint), "overwrite" (start again), "reuse" (keep a finished run of at least
    `config.epochs` epochs, continue a shorter or interrupted one, train otherwise). The VA predictor is
    passed only to presets with the VA term; the net is also kept after each of `snapshot_epochs`.
    """
    if existing not in EXISTING:
        raise UserError(f"existing must be one of {', '.join(EXISTING)}, got {existing!r}")
    out = Path(out)
    if existing == "reuse":
        if is_finished(out) and trained_epochs(out) >= config.epochs:
            print(f"reusing the finished run {out}")
            return out
        existing = "resume" if (out / CHECKPOINT_FILE).is_file() else "overwrite"
    train_run(
        prepared, config, out, seed=seed, image_weights=image_weights,
        va_predictor_dir=va_predictor if config.va_loss else None, resume=existing == "resume",
        overwrite=existing == "overwrite", max_songs=max_songs, verbose=verbose, snapshot_epochs=snapshot_epochs,
    )
    return out


def trained_songs(prepared, max_songs: int | None = None) -> dict[str, list[str]]:
    """Token sequences of the songs a run trained on: the first `max_songs` of the training split
    (songs that fail to tokenise are left out, as training leaves them out)."""
    kept, _ = tokenize_pairs(prepared.pairs_in("train")[:max_songs], "train", prepared.tokens, verbose=0)
    return {pair.music.id: tokens for pair, tokens in kept}


def generate_test_music(prepared, run_dir: str | Path, songs: dict[str, list[str]],
                        va_predictor: str | Path | None = None, n_pieces: int | None = None,
                        epoch: int | None = None) -> list[dict]:
    """Greedy music for the test split's images (the paper's method) -> MIDI files -> per-piece metrics.

    Each piece records its ids, the image's and the paired music's VA, its tokens and most frequent
    token (a collapsed model repeats one), the longest token run it shares with a song the run trained
    on (`memorisation`; `songs` are the run's training songs, `trained_songs`), its MIDI file (relative to
    `run_dir`), the three quality metrics and, with a VA predictor, the generated music's predicted VA.
    `epoch`: the run's net after that epoch (default: its last). A run trained elsewhere brings the tokens
    its net generated for the test images (`run_folder.read_test_tokens`): they are used as they are.
    """
    run_dir = Path(run_dir)
    epoch = epoch or trained_epochs(run_dir)
    index = SongIndex(songs)
    pairs = prepared.pairs_in("test")[:n_pieces]
    music = generated_test_tokens(pairs, run_dir, epoch)
    midi_dir = run_dir / "test_midi" / f"epoch-{epoch:03d}"
    pieces = []
    for pair in tqdm(pairs, desc="metrics", unit="piece", leave=False, disable=None):
        sequence = music[pair.image.id]
        midi = tokens.write_midi(sequence, midi_dir / f"{pair.music.id}.mid")
        pieces.append({
            "music_id": pair.music.id,
            "image_id": pair.image.id,
            "image_va": [pair.image.valence, pair.image.arousal],
            "paired_music_va": [pair.music.valence, pair.music.arousal],
            "n_tokens": len(sequence),
            "tokens": " ".join(sequence),
            "most_common_token": most_common_token(sequence[1:]),
            "memorisation": index.longest_run(sequence).to_dict(),
            "midi": str(midi.relative_to(run_dir)),
            "metrics": metrics.quality_metrics(metrics.read_music(midi)),
        })
    if va_predictor is not None:
        predictor = VAPredictor.load(va_predictor)
        generated = predictor.predict_midi(run_dir / piece["midi"] for piece in pieces)  # (N, 2)
        for piece, va in zip(pieces, generated):
            piece["generated_music_va"] = [float(v) for v in va]
    return pieces


def generated_test_tokens(pairs, run_dir: str | Path, epoch: int) -> dict[str, list[str]]:
    """{image id: greedy tokens} of the run's net after `epoch` for the images of `pairs` (test pairs): the tokens
    a run trained elsewhere brought (`run_folder.read_test_tokens`), else decoded here; nothing is written."""
    run_dir = Path(run_dir)
    # Greedy decoding is deterministic, so test pieces that share an image share its music: decode each image once.
    images = dict(sorted({pair.image.id: pair.image.path for pair in pairs}.items()))
    stored = read_test_tokens(run_dir, epoch)
    return _decode_test_images(run_dir, epoch, images) if stored is None else _stored_music(run_dir, stored, images)


def _decode_test_images(run_dir: Path, epoch: int, images: dict) -> dict[str, list[str]]:
    """{image id: greedy tokens} of the run's net after `epoch` for the images {id: path}."""
    run = load_run(run_dir, epoch)
    features = run.image_features(list(images.values()))  # (I, F)
    generation = GenerationConfig(max_len=run.config.max_len)
    return dict(zip(images, generate_tokens(run.model, features, run.vocabulary, generation)))


def _stored_music(run_dir: Path, stored: dict[str, list[str]], images: dict) -> dict[str, list[str]]:
    """The stored tokens of the images {id: path}; a UserError when the run brought none for some."""
    missing = sorted(set(images) - set(stored))
    if missing:
        raise UserError(f"{run_dir} brought no generated tokens for test image(s) {', '.join(missing[:3])}: "
                        "it was trained for another test split; pack and run it again")
    return {image: stored[image] for image in images}


def most_common_token(sequence: list[str]) -> list:
    """[token, share of the sequence] of its most frequent token: shows a collapsed model at a glance."""
    if not sequence:
        return [None, 0.0]
    token, count = Counter(sequence).most_common(1)[0]
    return [token, round(count / len(sequence), 4)]


def training_reference(prepared, cache: str | Path) -> tuple[float, float, float]:
    """Mean metrics of the training split's music files (cached in `cache`): our counterpart of the paper's
    reference values, which are the means over all 3000 EIMG files."""
    cache = Path(cache)
    if cache.is_file():
        return tuple(json.loads(cache.read_text())["reference"])
    train_ids = set(prepared.split["train"])
    paths = [item.path for item in prepared.music if item.id in train_ids]
    reference = metrics.reference_values(metrics.read_music(p) for p in paths)
    write_json(cache, {"reference": list(reference), "metrics": list(metrics.METRIC_NAMES), "pieces": len(paths)})
    return reference
