"""Reproducing one paper artefact (`experiments.ARTEFACTS`) end to end: `run_artefact`.

The skeleton is shared: check that the image weights can be had, prepare the data once
(`pipeline.prepare_data`), train the music VA predictor once per fidelity, train every preset for
every seed (finished runs are reused, interrupted ones resume; with `Settings.existing_only`, as
after the GPU queue, absent runs are named missing instead), then write `<out>/<name>.json` and
`.md`. What differs by the artefact's kind is a `Kind` hook: a "table" generates greedily for the
test images and scores the music (`pipeline.generate_test_music`, `metrics.aggregate_pieces`);
"curves" keeps the loss history and draws it. `img2music reproduce` and `reproduce/*.py` call
`run_artefact`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras

from img2music_tf import metrics
from img2music_tf.data.prepare import MANIFEST
from img2music_tf.environment import environment
from img2music_tf.experiments import DATA_REGIMES, Artefact, Scale, trained_preset, training_plan
from img2music_tf.files import output_dir, write_json, write_text
from img2music_tf.models.image_encoder import WEIGHTS, check_weights, weights_sha256
from img2music_tf.models.va_predictor import VAPredictor
from img2music_tf.paths import shown
from img2music_tf.presets import FIDELITIES, get_preset
from img2music_tf.run_folder import HISTORY_FILE, RunInfo, holds_epoch, read_history, read_timings, trained_epochs
from img2music_tf.study import pipeline, report


def _keras_backend() -> str:
    return keras.backend.backend()


@dataclass(frozen=True)
class Settings:
    """One reproduction: its sizes (`scale`, with any command-line overrides) and what is not a size."""

    scale: Scale
    seeds: tuple[int, ...]
    data: str  # a key of experiments.DATA_REGIMES
    out: Path  # where <artefact>.json|.md|.png go
    work: Path  # prepared data, VA predictors, run folders (reused across artefacts)
    fidelity: str
    test_pieces: int | None = None  # None: the whole test split
    va_predictor: Path | None = None  # None: one trained once per fidelity under `data_root`
    backend: str = dataclasses.field(default_factory=_keras_backend)  # the runs' Keras backend (in run names)
    existing_only: bool = False  # True: score the finished runs present, name the others missing (train none)

    @property
    def data_root(self) -> Path:
        """Everything tied to one prepared data set; paper and smoke scale share it (same items, same split)."""
        sizes = self.scale.n_items or "all"
        return self.work / f"{self.data}-items{sizes}-test{self.scale.n_test}-val{self.scale.n_val}"

    def run_dir(self, preset: str, seed: int) -> Path:
        """The run folder of one training: its name holds every setting that changes the weights (its epochs
        do not: a longer run holds the shorter ones as snapshots)."""
        songs = self.scale.max_songs or "all"
        weights = self.scale.image_weights
        weights = weights if weights in WEIGHTS else Path(weights).stem
        name = f"{preset}_{self.fidelity}_songs{songs}_{weights}_{self.backend}_seed{seed}"
        return self.data_root / "runs" / self.scale.name / name

    def epochs(self, artefact: Artefact) -> int:
        return self.scale.epochs or artefact.epochs

    def record(self, artefact: Artefact) -> dict:
        """The settings as JSON-ready values."""
        return {
            "scale": self.scale.name,
            "scale_sizes": dataclasses.asdict(self.scale),
            "seeds": list(self.seeds),
            "data": self.data,
            "out": shown(self.out),
            "work": shown(self.work),
            "image_weights": self.scale.image_weights,
            "image_weights_sha256": weights_sha256(self.scale.image_weights),
            "fidelity": self.fidelity,
            "epochs": self.epochs(artefact),
            "max_songs": self.scale.max_songs,
            "test_pieces": self.test_pieces,
            "va_predictor": shown(self.va_predictor) if self.va_predictor else None,
            "backend": self.backend,
        }

    def feature_specs(self, presets) -> set:
        """The image features the presets take at these settings."""
        return {get_preset(preset, scale=self.scale, fidelity=self.fidelity).image_features for preset in presets}


class Context:
    """What the runs of the artefacts share: settings, prepared data, VA predictor, reference metrics."""

    def __init__(self, settings: Settings):
        self.settings = settings
        if settings.va_predictor is not None:  # a wrong folder fails now, not when the first run is scored
            VAPredictor.load(settings.va_predictor)
        music, images = DATA_REGIMES[settings.data]
        self.prepared = pipeline.prepare_data(music, images, settings.data_root / "prepared", settings.scale)

    @functools.cached_property
    def va_predictor(self) -> Path:
        """The music VA predictor: the one given, or one trained once per data set on first use; fidelities
        whose predictors agree share one, named after the first of them (`va_predictor-paper` or `-code`)."""
        if self.settings.va_predictor is not None:
            return self.settings.va_predictor
        batchnorm = FIDELITIES[self.settings.fidelity].va_batchnorm
        name = next(name for name, switches in FIDELITIES.items() if switches.va_batchnorm == batchnorm)
        out = self.settings.data_root / f"va_predictor-{name}"
        print(f"music VA predictor (trained once on the training split, reused): {out}")
        return pipeline.train_va_predictor(self.prepared, out, self.settings.scale, batchnorm)

    @functools.cached_property
    def reference(self) -> tuple[float, float, float]:
        """Mean metrics of our training music (cached on disk): the tables' second reference."""
        return pipeline.training_reference(self.prepared, self.settings.data_root / "reference.json")

    def data_record(self) -> dict:
        """Which data, from where, and how much of it was used."""
        prepared, settings = self.prepared, self.settings
        manifest = json.loads((prepared.out / MANIFEST).read_text())
        n_train = len(prepared.split["train"])
        test = prepared.pairs_in("test")[: settings.test_pieces]
        return {
            "data": settings.data,
            "sources": {key: manifest["inputs"][key] for key in ("music", "music_source", "images", "image_source")},
            "prepared": shown(prepared.out),
            "split": {name: len(ids) for name, ids in prepared.split.items()},
            "train_songs_offered": min(settings.scale.max_songs or n_train, n_train),
            "test_pieces_scored": len(test),
            "test_images_distinct": len({pair.image.id for pair in test}),
            "summary": prepared.summary,
        }


# ---------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """What an artefact kind adds to `run_artefact`'s skeleton."""

    per_run: Callable[[Context, Path, int], dict]  # (context, run folder, epoch read) -> extra fields of the record
    present: Callable[[Path, int], bool]  # (run folder, epoch read) -> can a run trained elsewhere serve the row
    finish: Callable[[Context, Artefact, dict], dict]  # {preset: [run records]} -> the result's kind-specific fields
    write: Callable[[dict, Path], list[Path]]  # the result -> files written besides <name>.json


def _score_run(context: Context, run_dir: Path, epoch: int) -> dict:
    """Tables: greedy music for the test images, scored and checked for copies of training songs; the
    unigram baseline of the run's training songs; how long it took."""
    began = time.perf_counter()
    songs = pipeline.trained_songs(context.prepared, RunInfo.read(run_dir).max_songs)
    pieces = pipeline.generate_test_music(context.prepared, run_dir, songs, context.va_predictor,
                                          context.settings.test_pieces, epoch=epoch)
    return {
        "unigram_cross_entropy": metrics.unigram_cross_entropy(songs.values()),
        "generate_and_score_seconds": round(time.perf_counter() - began, 1),
        "aggregate": metrics.aggregate_pieces(pieces, context.reference),
        "pieces": pieces,
    }


def _table_result(context: Context, artefact: Artefact, records: dict) -> dict:
    return {
        "reference": {
            "metrics": list(metrics.METRIC_NAMES),
            "paper": list(metrics.PAPER_REFERENCE),
            "training_music": list(context.reference),
        },
        "paper": {preset: [{"source": label, **values} for label, values in rows]
                  for preset, rows in artefact.paper.items()},
        "rows": {preset: {"seeds": runs, "across_seeds": metrics.across_seeds([r["aggregate"] for r in runs])}
                 for preset, runs in records.items()},
    }


def _write_table(result: dict, out: Path) -> list[Path]:
    return [write_text(out / f"{result['artefact']}.md", report.markdown_table(result))]


def _curves_result(context: Context, artefact: Artefact, records: dict) -> dict:
    return {
        "paper_endpoints": {preset: {"epoch_1": first, f"epoch_{artefact.epochs}": last}
                            for preset, (first, last) in artefact.paper.items()},
        "curves": records,
    }


def _write_curves(result: dict, out: Path) -> list[Path]:
    name = result["artefact"]
    return [report.plot_curves(result, out / f"{name}.png"),
            write_text(out / f"{name}.md", report.markdown_curves(result))]


KINDS = {
    "table": Kind(per_run=_score_run, present=holds_epoch, finish=_table_result, write=_write_table),
    # a run stopped early still draws the epochs it trained; the curve says it is partial
    "curves": Kind(per_run=lambda context, run_dir, epoch: {},
                   present=lambda run_dir, epoch: trained_epochs(run_dir) > 0,
                   finish=_curves_result, write=_write_curves),
}


# ---------------------------------------------------------------- one artefact, end to end


def run_artefact(artefact: Artefact, settings: Settings) -> dict:
    """Train every preset of `artefact` for every seed, apply its kind's hook, write its files; return the result.
    An output folder that cannot be written fails first, before any training."""
    with output_dir(settings.out):
        return _run_artefact(artefact, settings)


def _run_artefact(artefact: Artefact, settings: Settings) -> dict:
    started = time.perf_counter()
    weights = check_weights(settings.feature_specs(artefact.presets), settings.scale.image_weights)  # offline: torchvision
    settings = dataclasses.replace(settings, scale=settings.scale.replace(image_weights=weights))
    kind = KINDS[artefact.kind]
    context = Context(settings)
    epochs = settings.epochs(artefact)
    plan = training_plan(settings.scale.epochs)
    records: dict[str, list[dict]] = {}
    scored: dict[tuple[Path, int], dict] = {}  # rows that read the same run at the same epoch are scored once
    missing: list[str] = []
    for preset in artefact.presets:
        trained = trained_preset(preset)
        config = get_preset(trained, scale=settings.scale, fidelity=settings.fidelity, epochs=plan[trained][-1])
        runs = []
        for seed in settings.seeds:
            run_dir = settings.run_dir(trained, seed)
            if settings.existing_only:
                if not kind.present(run_dir, epochs):
                    print(f"{preset}: no run of {trained} (seed {seed}) with epoch {epochs} in {run_dir}: missing")
                    continue
            else:
                print(f"{preset}: epoch {epochs} of {trained} ({settings.scale.name} scale, {config.epochs} epochs, "
                      f"seed {seed}) -> {run_dir}")
                pipeline.train_model(context.prepared, config, run_dir, seed=seed,
                                     image_weights=settings.scale.image_weights, va_predictor=context.va_predictor,
                                     max_songs=settings.scale.max_songs, existing="reuse",
                                     snapshot_epochs=plan[trained])
            history = read_history(run_dir / HISTORY_FILE)[:epochs]
            if (run_dir, epochs) not in scored:
                scored[(run_dir, epochs)] = kind.per_run(context, run_dir, epochs)
            runs.append({
                "seed": seed,
                "run": shown(run_dir),
                "trained_preset": trained,
                "epoch": epochs,
                "run_config": RunInfo.read(run_dir).to_dict(),
                "timings": read_timings(run_dir),
                "history": history,
                "epochs_trained": trained_epochs(run_dir),  # fewer than the run's epochs: stopped early (GPU queue)
                "epochs_planned": config.epochs,
                "train_seconds": round(sum(row["seconds"] or 0.0 for row in history), 1),
                **scored[(run_dir, epochs)],
            })
        if runs:
            records[preset] = runs
        if len(runs) < len(settings.seeds):
            missing.append(preset)
    result = {
        "artefact": artefact.name,
        "title": artefact.title,
        "settings": settings.record(artefact),
        "environment": environment(),
        "data": context.data_record(),
        "va_predictor": shown(context.va_predictor),
        **kind.finish(context, artefact, records),
        "missing_at_paper_scale": missing if settings.scale.name == "paper" else list(artefact.presets),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    written = [*kind.write(result, settings.out), write_json(settings.out / f"{artefact.name}.json", result)]
    print(f"wrote {', '.join(str(path) for path in written)} in {result['wall_seconds']:.0f} s")
    return result
