"""The pipeline shared by the reproduction scripts (table1.py, table2.py, figure3.py).

prepared data (EIMG music + Emotion6 images, or the builtin set) -> train each preset
(`img2music_tf.train.train_run`, reused when its run folder is complete) -> greedy generation
for the test split's images -> MIDI (music21, as the authors did) -> muspy metrics -> JSON
(per piece and aggregate) and Markdown with the paper's numbers beside ours.

Scales share one code path and differ only in sizes (`SCALES`): `paper` trains on every
training song at the paper's model sizes (meant for a GPU); `smoke` trains the smoke presets
on a subset of the training songs (minutes on a 2-core CPU); `tiny` is for the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from img2music_tf.errors import UserError
from img2music_tf.files import write_json, write_text

from paper_numbers import METRICS

REPO = Path(__file__).resolve().parents[1]


def shown(path: Path | str) -> str:
    """A path as results should record it: relative to the repository when inside it, so outputs are portable."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
DATA_SOURCES = {"eimg": ("eimg", "emotion6"), "builtin": ("builtin", "builtin")}
"""`--data` choice -> (music source, image source) for `img2music_tf.data.prepare.prepare`."""
FIRST_PIECES = 4
"""The paper's Table 2 averaged over 4 generated pieces: we also report the first 4 of the test split."""
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class Scale:
    """Sizes of one reproduction scale (the model sizes themselves live in `img2music_tf.presets`)."""

    name: str
    max_songs: int | None  # training songs used (None: the whole training split)
    image_weights: str  # default CNN weights
    va_epochs: int | None  # VA predictor epochs (None: va_training's default, with early stopping)
    n_items: int | None = None  # music pieces and images read from each source (None: all)
    n_test: int = 100  # the paper's split: 100 test, 16 validation, the rest train
    n_val: int = 16


SCALES = {
    "paper": Scale("paper", max_songs=None, image_weights="imagenet", va_epochs=None),
    "smoke": Scale("smoke", max_songs=24, image_weights="none", va_epochs=None),
    "tiny": Scale("tiny", max_songs=8, image_weights="none", va_epochs=2, n_items=20, n_test=4, n_val=2),
}


@dataclass(frozen=True)
class Settings:
    """Everything one reproduction run depends on (parsed from the command line)."""

    scale: Scale
    seeds: tuple[int, ...]
    data: str
    out: Path  # where results/<artefact>.json|.md|.png go
    work: Path  # prepared data, VA predictor, run folders (reused across scripts)
    image_weights: str
    fidelity: str
    epochs: int | None  # overrides the presets' epochs (tests); None = the paper's
    max_songs: int | None
    test_pieces: int | None  # None = the whole test split
    va_predictor: Path | None

    @property
    def data_root(self) -> Path:
        """Everything tied to one prepared data set; paper and smoke scale share it (same items, same split)."""
        sizes = self.scale.n_items or "all"
        return self.work / f"{self.data}-items{sizes}-test{self.scale.n_test}-val{self.scale.n_val}"

    def run_dir(self, preset: str, epochs: int, seed: int) -> Path:
        """The run folder of one training: its name holds every setting that changes the weights."""
        songs = self.max_songs or "all"
        weights = Path(self.image_weights).stem if self.image_weights not in ("imagenet", "none") else self.image_weights
        name = f"{preset}_{self.fidelity}_e{epochs}_songs{songs}_{weights}_seed{seed}"
        return self.data_root / "runs" / self.scale.name / name


@dataclass(frozen=True)
class Artefact:
    """One paper artefact: which presets it trains, for how many epochs, what it is called."""

    name: str  # output file stem, e.g. "table1"
    title: str
    presets: tuple[str, ...]
    epochs: int


# ---------------------------------------------------------------- command line


def build_parser(artefact: Artefact, description: str) -> argparse.ArgumentParser:
    """The options every reproduction script takes."""
    parser = argparse.ArgumentParser(
        prog=f"reproduce/{artefact.name}.py",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", choices=tuple(SCALES), default="smoke",
                        help="paper: the paper's model sizes on every training song (meant for a GPU); smoke: the "
                             f"small presets on {SCALES['smoke'].max_songs} training songs (minutes on a 2-core CPU); "
                             "tiny: for the tests (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="train every preset with seeds 0..N-1; with N > 1 the tables give the mean and "
                             "standard deviation across seeds (default: %(default)s)")
    parser.add_argument("--data", choices=tuple(DATA_SOURCES), default="eimg",
                        help="eimg: EIMG music paired with Emotion6 images (IMG2MUSIC_EIMG_SOURCE and "
                             "IMG2MUSIC_EMOTION6_SOURCE may name local copies); builtin: the built-in demo set "
                             "(default: %(default)s)")
    parser.add_argument("--out", default=str(REPO / "results"), metavar="DIR",
                        help=f"folder for {artefact.name}.json, .md and plots (default: results/ of the repository)")
    parser.add_argument("--work", default=str(REPO / "runs" / "reproduce"), metavar="DIR",
                        help="folder for the prepared data, the VA predictor and the run folders, reused by later "
                             "runs and by the other scripts (default: runs/reproduce/ of the repository)")
    parser.add_argument("--image-weights", default=None, metavar="WEIGHTS",
                        help="image CNN weights: imagenet, none (random, seeded) or a .h5 file (default: imagenet "
                             "at --scale paper, none otherwise, so that smoke runs work offline)")
    parser.add_argument("--fidelity", choices=("paper", "code"), default="paper",
                        help="follow the paper or the authors' code where they differ, see docs/fidelity.md "
                             "(default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help=f"replace the paper's {artefact.epochs} epochs, for quick checks only")
    parser.add_argument("--max-songs", type=int, default=None, metavar="N",
                        help="train on N training songs (default: all at paper scale, "
                             f"{SCALES['smoke'].max_songs} at smoke scale)")
    parser.add_argument("--test-pieces", type=int, default=None, metavar="N",
                        help="generate for the first N pieces of the test split only (default: all 100)")
    parser.add_argument("--va-predictor", default=None, metavar="DIR",
                        help="a trained music VA predictor folder (default: one trained once on the training "
                             "split into WORK/.../va_predictor)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Resolve the defaults that depend on the scale, and check the numbers."""
    scale = SCALES[args.scale]
    for name in ("seeds", "epochs", "max_songs", "test_pieces"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    return Settings(
        scale=scale,
        seeds=tuple(range(args.seeds)),
        data=args.data,
        out=Path(args.out),
        work=Path(args.work),
        image_weights=args.image_weights or scale.image_weights,
        fidelity=args.fidelity,
        epochs=args.epochs,
        max_songs=args.max_songs if args.max_songs is not None else scale.max_songs,
        test_pieces=args.test_pieces,
        va_predictor=Path(args.va_predictor) if args.va_predictor else None,
    )


# ---------------------------------------------------------------- pipeline steps


def prepare_data(settings: Settings):
    """The paired, split data set (prepared once, then read back)."""
    from img2music_tf.data.prepare import prepare

    music, images = DATA_SOURCES[settings.data]
    scale = settings.scale
    return prepare(
        music=music, images=images, out=settings.data_root / "prepared", seed=0,
        n_test=scale.n_test, n_val=scale.n_val, n_music=scale.n_items, n_images=scale.n_items,
    )


def ensure_va_predictor(settings: Settings, prepared) -> Path:
    """A trained music VA predictor: the one given, else one trained once on the data's training split."""
    if settings.va_predictor is not None:
        return settings.va_predictor
    from img2music_tf.models.va_predictor import CONFIG_FILE, MODEL_FILE
    from img2music_tf.va_training import VATrainConfig, train_on_items

    out = settings.data_root / "va_predictor"
    if (out / MODEL_FILE).is_file() and (out / CONFIG_FILE).is_file():
        return out
    print(f"training the music VA predictor once on the training split -> {out}")
    train_config = VATrainConfig() if settings.scale.va_epochs is None else VATrainConfig(epochs=settings.scale.va_epochs)
    train_on_items(prepared.music, out, train_config=train_config, split=prepared.split)
    return out


def training_reference(settings: Settings, prepared) -> tuple[float, float, float]:
    """Mean metrics of the training split's music files (cached): our counterpart of the paper's reference."""
    from img2music_tf import metrics

    path = settings.data_root / "reference.json"
    if path.is_file():
        return tuple(json.loads(path.read_text())["reference"])
    train_ids = set(prepared.split["train"])
    paths = [item.path for item in prepared.music if item.id in train_ids]
    reference = metrics.reference_values(metrics.read_music(p) for p in paths)
    write_json(path, {"reference": list(reference), "metrics": list(metrics.METRIC_NAMES), "pieces": len(paths)})
    return reference


def train_preset(settings: Settings, prepared, preset: str, epochs: int, seed: int, va_predictor: Path | None) -> Path:
    """Train one preset (or reuse its finished run folder; resume an interrupted one); return the run folder."""
    from img2music_tf.presets import get_preset
    from img2music_tf.train import CHECKPOINT_FILE, MODEL_FILE, train_run

    out = settings.run_dir(preset, epochs, seed)
    if (out / MODEL_FILE).is_file():
        print(f"reusing the finished run {out}")
        return out
    config = get_preset(preset, scale=settings.scale.name, fidelity=settings.fidelity, epochs=epochs)
    print(f"training {preset} ({settings.scale.name} scale, {epochs} epochs, seed {seed}) -> {out}")
    resume = (out / CHECKPOINT_FILE).is_file()  # an interrupted run continues; one without a checkpoint restarts
    train_run(
        prepared, config, out, seed=seed, image_weights=settings.image_weights,
        va_predictor_dir=va_predictor if config.va_loss else None,
        resume=resume, overwrite=not resume, max_songs=settings.max_songs,
    )
    return out


def evaluate_run(settings: Settings, prepared, run_dir: Path, va_predictor: Path | None) -> list[dict]:
    """Greedy music for the test split's images -> MIDI files -> per-piece metrics (and predicted VA)."""
    from tqdm import tqdm

    from img2music_tf import metrics, tokens
    from img2music_tf.generate import GenerationConfig, generate_tokens
    from img2music_tf.models.va_predictor import VAPredictor
    from img2music_tf.train import load_run

    run = load_run(run_dir)
    pairs = prepared.pairs_in("test")[: settings.test_pieces]
    # Greedy decoding is deterministic, so test pieces that share an image share its music: decode each image once.
    images = dict(sorted({pair.image.id: pair.image.path for pair in pairs}.items()))
    features = run.image_features(list(images.values()))  # (I, F)
    generation = GenerationConfig(max_len=run.config.max_len)
    music = dict(zip(images, generate_tokens(run.model, features, run.vocabulary, generation)))
    midi_dir = run_dir / "test_midi"
    pieces = []
    for pair in tqdm(pairs, desc="metrics", unit="piece", leave=False):
        sequence = music[pair.image.id]
        midi = tokens.write_midi(sequence, midi_dir / f"{pair.music.id}.mid")
        pieces.append({
            "music_id": pair.music.id,
            "image_id": pair.image.id,
            "image_va": [pair.image.valence, pair.image.arousal],
            "paired_music_va": [pair.music.valence, pair.music.arousal],
            "n_tokens": len(sequence),
            "most_common_token": most_common_token(sequence[1:]),
            "midi": str(midi.relative_to(run_dir)),
            "metrics": metrics.quality_metrics(metrics.read_music(midi)),
        })
    if va_predictor is not None:
        predictor = VAPredictor.load(va_predictor)
        generated = predictor.predict_midi(run_dir / piece["midi"] for piece in pieces)  # (N, 2)
        for piece, va in zip(pieces, generated):
            piece["generated_music_va"] = [float(v) for v in va]
    return pieces


def most_common_token(sequence: list[str]) -> list:
    """[token, share of the sequence] of its most frequent token: shows a collapsed model at a glance."""
    if not sequence:
        return [None, 0.0]
    token, count = Counter(sequence).most_common(1)[0]
    return [token, round(count / len(sequence), 4)]


def bootstrap_quality_loss(table: np.ndarray, reference, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of Music_Quality_Loss (a function of the metric means) over pieces."""
    from img2music_tf.metrics import music_quality_loss

    rng = np.random.default_rng(seed)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample whose column is all NaN gives NaN, as intended
        for _ in range(BOOTSTRAP_SAMPLES):
            sample = table[rng.integers(0, len(table), len(table))]  # (N, 3)
            losses.append(music_quality_loss(np.nanmean(sample, axis=0), reference))
    losses = np.asarray(losses)
    losses = losses[np.isfinite(losses)]
    if losses.size == 0:
        return (math.nan, math.nan)
    low, high = np.percentile(losses, [2.5, 97.5])
    return (float(low), float(high))


def aggregate(pieces: list[dict], reference: tuple[float, float, float]) -> dict:
    """Table rows of one run: all test pieces and the first 4 (the paper's Table 2 sample size).

    Per metric: mean and 95% Student-t interval (`metrics.summarize`); Music_Quality_Loss of the
    means against the paper's reference constants and against our training music, each with a
    bootstrap interval; emotion alignment of the generated music with its image when the VA
    predictor is there.
    """
    from img2music_tf import metrics

    result = {}
    for label, chosen in (("all", pieces), (f"first{FIRST_PIECES}", pieces[:FIRST_PIECES])):
        table = np.array([[p["metrics"][name] for name in metrics.METRIC_NAMES] for p in chosen], float)  # (N, 3)
        row = metrics.summarize(table, metrics.PAPER_REFERENCE)
        means = [row[name]["mean"] for name in metrics.METRIC_NAMES]
        row["music_quality_loss_interval"] = bootstrap_quality_loss(table, metrics.PAPER_REFERENCE)
        row["music_quality_loss_training_reference"] = metrics.music_quality_loss(means, reference)
        row["music_quality_loss_training_reference_interval"] = bootstrap_quality_loss(table, reference)
        if chosen and "generated_music_va" in chosen[0]:
            image_va = [p["image_va"] for p in chosen]
            row["emotion_alignment"] = metrics.emotion_alignment(image_va, [p["generated_music_va"] for p in chosen])
            row["emotion_alignment_paired_music_labels"] = metrics.emotion_alignment(
                image_va, [p["paired_music_va"] for p in chosen]
            )
        result[label] = row
    return result


def across_seeds(per_seed: list[dict]) -> dict:
    """Mean and sample standard deviation across seeds of every headline number (per sample size)."""
    result = {}
    for label in per_seed[0]["aggregate"]:
        values = {name: [headline(seed["aggregate"][label], name) for seed in per_seed] for name in HEADLINES}
        result[label] = {
            name: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else math.nan, "n_seeds": len(v)}
            for name, v in values.items()
        }
    return result


HEADLINES = (*METRICS, "music_quality_loss_training_reference")
"""The numbers a table row shows (the paper's columns, then our reference's quality loss)."""


def headline(row: dict, name: str) -> float:
    """One headline number of an aggregate row: a metric's mean, or a quality loss."""
    value = row[name]
    return value["mean"] if isinstance(value, dict) else value


# ---------------------------------------------------------------- one artefact, end to end


def environment() -> dict:
    """Where the numbers were measured: backend, versions, and the device that ran them."""
    import importlib.metadata

    import keras

    backend = keras.backend.backend()
    return {
        "backend": backend,
        "backend_version": importlib.metadata.version("tensorflow" if backend == "tensorflow" else backend),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "device": device_name(),
    }


def device_name() -> str:
    """The GPU name(s) from nvidia-smi, else the CPU model and core count."""
    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
        gpus = [line.strip() for line in found.stdout.splitlines() if line.strip()] if found.returncode == 0 else []
    except (OSError, subprocess.SubprocessError):
        gpus = []
    if gpus:
        return "GPU: " + ", ".join(gpus)
    cpu = platform.processor() or "unknown CPU"
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"CPU: {cpu} ({os.cpu_count()} cores)"


def run_artefact(artefact: Artefact, settings: Settings, paper_rows: dict[str, list[tuple[str, dict]]]) -> dict:
    """Train, generate and score every preset of a table for every seed; write <name>.json and .md."""
    from img2music_tf import metrics
    from img2music_tf.train import HISTORY_FILE, read_history

    started = time.perf_counter()
    prepared = prepare_data(settings)
    va_predictor = ensure_va_predictor(settings, prepared)
    reference = training_reference(settings, prepared)
    epochs = settings.epochs or artefact.epochs
    rows = {}
    for preset in artefact.presets:
        per_seed = []
        for seed in settings.seeds:
            run_dir = train_preset(settings, prepared, preset, epochs, seed, va_predictor)
            began = time.perf_counter()
            pieces = evaluate_run(settings, prepared, run_dir, va_predictor)
            history = read_history(run_dir / HISTORY_FILE)
            per_seed.append({
                "seed": seed,
                "run": shown(run_dir),
                "run_config": json.loads((run_dir / "config.json").read_text()),
                "history": history,
                "train_seconds": round(sum(row["seconds"] or 0.0 for row in history), 1),
                "generate_and_score_seconds": round(time.perf_counter() - began, 1),
                "aggregate": aggregate(pieces, reference),
                "pieces": pieces,
            })
        rows[preset] = {"seeds": per_seed, "across_seeds": across_seeds(per_seed)}
    result = {
        "artefact": artefact.name,
        "title": artefact.title,
        "settings": settings_record(settings, epochs),
        "environment": environment(),
        "data": data_record(settings, prepared),
        "reference": {
            "metrics": list(metrics.METRIC_NAMES),
            "paper": list(metrics.PAPER_REFERENCE),
            "training_music": list(reference),
        },
        "va_predictor": shown(va_predictor) if va_predictor else None,
        "paper": {preset: [{"source": label, **values} for label, values in rows_] for preset, rows_ in paper_rows.items()},
        "rows": rows,
        "missing_at_paper_scale": [] if settings.scale.name == "paper" else list(artefact.presets),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_json(settings.out / f"{artefact.name}.json", result)
    write_text(settings.out / f"{artefact.name}.md", render_markdown(result))
    print(f"wrote {settings.out / artefact.name}.json and .md in {result['wall_seconds']:.0f} s")
    return result


def settings_record(settings: Settings, epochs: int) -> dict:
    """The settings as JSON-ready values."""
    record = dataclasses.asdict(settings)
    record.update(scale=settings.scale.name, scale_sizes=dataclasses.asdict(settings.scale), epochs=epochs,
                  seeds=list(settings.seeds), out=shown(settings.out), work=shown(settings.work),
                  va_predictor=shown(settings.va_predictor) if settings.va_predictor else None)
    return record


def data_record(settings: Settings, prepared) -> dict:
    """Which data, from where, and how much of it was used."""
    manifest = json.loads((prepared.out / "manifest.json").read_text())
    n_train = len(prepared.split["train"])
    test = prepared.pairs_in("test")[: settings.test_pieces]
    return {
        "data": settings.data,
        "sources": {key: manifest["inputs"][key] for key in ("music", "music_source", "images", "image_source")},
        "prepared": shown(prepared.out),
        "split": {name: len(ids) for name, ids in prepared.split.items()},
        "train_songs_offered": min(settings.max_songs or n_train, n_train),
        "test_pieces_scored": len(test),
        "test_images_distinct": len({pair.image.id for pair in test}),
        "summary": prepared.summary,
    }


# ---------------------------------------------------------------- Markdown


def _number(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _cell(value: float, interval=None, spread: float | None = None) -> str:
    """A table cell: value, then [low, high] or ± sd when known."""
    text = _number(value)
    if spread is not None and not math.isnan(spread):
        return f"{text} ± {spread:.4f}"
    if interval is not None and not any(v is None or math.isnan(v) for v in interval):
        return f"{text} [{interval[0]:.4f}, {interval[1]:.4f}]"
    return text


def image_weights_note(weights: str) -> str:
    """The sentence every table carries about the CNN weights."""
    if weights == "none":
        return ("**Image weights: `none`** - the VGG16/InceptionV3 feature extractors have random (seeded) "
                "weights, because ImageNet weights cannot be downloaded here; the paper used ImageNet weights.")
    return f"Image weights: `{weights}`."


def _our_rows(preset: str, row: dict, scale: str) -> list[str]:
    """Our lines of one preset: all test pieces and the first 4, with intervals (1 seed) or spread (seeds)."""
    lines = []
    several = len(row["seeds"]) > 1
    for label, aggregate_ in row["seeds"][0]["aggregate"].items():
        pieces = aggregate_["n"]
        if several:
            spread = row["across_seeds"][label]
            cells = [_cell(spread[name]["mean"], spread=spread[name]["sd"]) for name in HEADLINES]
            source = f"ours, {scale}, {len(row['seeds'])} seeds (mean ± sd)"
        else:
            cells = [
                _cell(aggregate_["music_quality_loss"], aggregate_["music_quality_loss_interval"]),
                *(_cell(aggregate_[name]["mean"], (aggregate_[name]["low"], aggregate_[name]["high"]))
                  for name in METRICS[1:]),
                _cell(aggregate_["music_quality_loss_training_reference"],
                      aggregate_["music_quality_loss_training_reference_interval"]),
            ]
            source = f"ours, {scale}"
        with_notes = aggregate_["pitch_entropy"]["n_defined"]  # pitch entropy is defined iff a piece has notes
        lines.append(f"| {preset} | {source} | {_pieces(label, pieces, with_notes)} | " + " | ".join(cells) + " |")
    return lines


def _pieces(label: str, n: int, with_notes: int | None = None) -> str:
    text = "all" if label == "all" else f"first {FIRST_PIECES}"
    return f"{n} ({text})" if with_notes is None else f"{n} ({text}; {with_notes} with notes)"


def songs_line(data: dict, run_configs: list[dict]) -> str:
    """How many training songs the runs used (songs that failed to tokenise are dropped by train_run)."""
    used = sorted({run["songs"]["train"] for run in run_configs})
    dropped = sorted({sum(d["split"] == "train" for d in run["dropped"]) for run in run_configs})
    return (f"{'/'.join(map(str, used))} of the {data['split']['train']} training songs "
            f"(the first {data['train_songs_offered']} offered; {'/'.join(map(str, dropped))} failed to tokenise)")


def render_markdown(result: dict) -> str:
    """The rendered table: the paper's rows beside ours, then how the numbers were made."""
    settings, env, data = result["settings"], result["environment"], result["data"]
    scale = settings["scale"]
    run_configs = [seed["run_config"] for row in result["rows"].values() for seed in row["seeds"]]
    lines = [
        f"# {result['title']}",
        "",
        image_weights_note(settings["image_weights"]),
        "",
        f"Scale `{scale}`, {settings['epochs']} epoch(s), seeds {settings['seeds']}, "
        f"fidelity `{settings['fidelity']}`; trained on {songs_line(data, run_configs)}; "
        f"{data['test_pieces_scored']} test pieces ({data['test_images_distinct']} distinct images) generated "
        f"greedily. Data: {data['sources']['music']} music + {data['sources']['images']} images (the paper "
        "paired EIMG music with EMID images, which are not downloadable). "
        f"{env['backend']} {env['backend_version']} (Keras {env['keras']}) on {env['device']}; "
        f"wall time {result['wall_seconds']:.0f} s for the whole script (finished runs are reused).",
        "",
        "Cells: mean over the pieces [95% interval: Student t for the metrics, percentile bootstrap for "
        "Music_Quality_Loss, which is computed from the metric means as in the paper]. Music_Quality_Loss is "
        "measured against the paper's reference constants; the last column measures it against the mean "
        "metrics of our training music.",
        "",
        "| Model | Source | Pieces | Music_Quality_Loss | Polyphony Rate | Pitch Entropy | Groove Consistency "
        "| Music_Quality_Loss vs our training music |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for preset, row in result["rows"].items():
        for paper_row in result["paper"].get(preset, []):
            cells = [_number(paper_row.get(name)) if name in paper_row else "" for name in METRICS]
            lines.append(f"| {preset} | {paper_row['source']} | | " + " | ".join(cells) + " | |")
        lines += _our_rows(preset, row, scale)
    lines += _collapse_lines(result)
    reference = result["reference"]
    lines += [
        "",
        "Reference values (polyphony rate, pitch entropy, groove consistency): paper "
        + ", ".join(f"{v:.4f}" for v in reference["paper"])
        + "; our training music " + ", ".join(f"{v:.4f}" for v in reference["training_music"]) + ".",
    ]
    lines += _alignment_lines(result)
    lines += ["", "## Runs", "", "| Model | Seed | Training (s) | Generation + metrics (s) | Final training loss | Run folder |",
              "|---|---|---|---|---|---|"]
    for preset, row in result["rows"].items():
        for seed in row["seeds"]:
            final = seed["history"][-1]["loss"] if seed["history"] else math.nan
            lines.append(f"| {preset} | {seed['seed']} | {seed['train_seconds']:.0f} | "
                         f"{seed['generate_and_score_seconds']:.0f} | {_number(final)} | `{seed['run']}` |")
    if result["missing_at_paper_scale"]:
        lines += ["", f"**Missing at paper scale:** {', '.join(result['missing_at_paper_scale'])} - no GPU was "
                  "available in this session; run `make " + result["artefact"] + " SCALE=paper` on a GPU."]
    return "\n".join(lines) + "\n"


def _collapse_lines(result: dict) -> list[str]:
    """Why a cell can be n/a, and each run's most frequent generated token (a collapsed model repeats one)."""
    silent = any(math.isnan(aggregate_["music_quality_loss"])
                 for row in result["rows"].values() for seed in row["seeds"] for aggregate_ in seed["aggregate"].values())
    lines = ["", "n/a: no piece of that row has a note (the metrics are undefined for silence; see "
             "img2music_tf/metrics.py), e.g. a model that emits rests only."] if silent else []
    for preset, row in result["rows"].items():
        for seed in row["seeds"]:
            tops = Counter(piece["most_common_token"][0] for piece in seed["pieces"] if "most_common_token" in piece)
            if tops:
                token, pieces = tops.most_common(1)[0]
                shares = [p["most_common_token"][1] for p in seed["pieces"] if p["most_common_token"][0] == token]
                lines.append(f"- {preset}, seed {seed['seed']}: the most frequent token of {pieces} of "
                             f"{len(seed['pieces'])} pieces is `{token}` (mean share {np.mean(shares):.0%}).")
    return lines


def _alignment_lines(result: dict) -> list[str]:
    """Emotion alignment (not in the paper): how far the generated music's predicted VA lies from its image's."""
    rows = [(preset, seed) for preset, row in result["rows"].items() for seed in row["seeds"]
            if "emotion_alignment" in seed["aggregate"]["all"]]
    if not rows:
        return []
    lines = [
        "",
        "## Emotion alignment (not in the paper)",
        "",
        "Mean |VA(image) - VA(generated music)| on the 1-9 scale, the music's VA predicted by the music VA "
        f"predictor (`{result['va_predictor']}`); for comparison, the same distance between each image and the "
        "labels of the music it was paired with.",
        "",
        "| Model | Seed | Pieces | Valence | Arousal | Overall | Paired music labels (overall) |",
        "|---|---|---|---|---|---|---|",
    ]
    for preset, seed in rows:
        for label, aggregate_ in seed["aggregate"].items():
            alignment = aggregate_["emotion_alignment"]
            lines.append(f"| {preset} | {seed['seed']} | {_pieces(label, aggregate_['n'])} | {alignment['valence']:.3f} | "
                         f"{alignment['arousal']:.3f} | {alignment['overall']:.3f} | "
                         f"{aggregate_['emotion_alignment_paired_music_labels']['overall']:.3f} |")
    return lines


def main(artefact: Artefact, description: str, run, argv: list[str] | None = None) -> int:
    """Command-line entry of a script: parse, `run(settings)`, print a UserError as one line (exit 2)."""
    parser = build_parser(artefact, description)
    args = parser.parse_args(argv)
    try:
        run(settings_from_args(args))
    except UserError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    return 0
