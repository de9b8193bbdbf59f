"""The GPU side of the queue (`gpu_queue`): train the packed runs within a time budget, decode, report.

It imports only what a JAX-only GPU machine has with the wheels of `gpu_queue.download_wheels` (Keras,
NumPy, tqdm): no TensorFlow, music21, muspy or Pillow (tests/test_gpu_queue.py runs it where these
cannot be imported). Each entry of the queue is trained with the code of every CPU run
(`train.fit_model`: the same batches padded to buckets, padding rows, seeds), in queue order. A run
starts only when the pace of the finished runs (seconds per cost unit, plus their compilations and
decoding) says it can finish in the seconds left, and stops as soon as the pace of its own epochs says
its remaining ones cannot; only finished runs are merged. After each snapshot epoch the test images
are decoded greedily (`generate.generate_tokens`, all images in one batch). `results.json` holds the
history, the tokens per test image and epoch, the timings (seconds per epoch, XLA compilations, the
device) and is rewritten after every run, so a call that is killed still returns the finished runs.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from img2music_tf.batches import Song
from img2music_tf.environment import environment
from img2music_tf.errors import UserError
from img2music_tf.files import write_json
from img2music_tf.generate import GenerationConfig, generate_tokens
from img2music_tf.gpu_queue import (FEATURES_FILE, FORMAT, QUEUE_FILE, RESULTS_FILE, SONGS_FILE, VA_PREDICTOR_FOLDER,
                                    VA_TABLES_FILE, Entry)
from img2music_tf.losses import VA_TERMS
from img2music_tf.models.va_predictor import VAPredictor
from img2music_tf.run_folder import VOCABULARY_FILE, RunInfo
from img2music_tf.train import fit_model
from img2music_tf.vocabulary import Vocabulary

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # JAX's monitoring event of one XLA compilation
COMPILE_EVENTS = (COMPILE_EVENT, "/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration")  # tracing and lowering come before it
RESERVE_S = 15.0  # seconds of the budget kept for writing the results


class PackData:
    """A pack folder, read: the queue, the vocabulary, the songs and the image features."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        try:
            self.queue = json.loads((self.folder / QUEUE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UserError(f"{self.folder} is not a GPU pack ({error}); make one with `img2music gpu pack`") from None
        if self.queue.get("format") != FORMAT:
            raise UserError(f"{self.folder} was packed by another version ({self.queue.get('format')}); pack it again")
        self.entries = [Entry.from_dict(entry) for entry in self.queue["entries"]]
        self.vocabulary = Vocabulary.load(self.folder / VOCABULARY_FILE)
        with np.load(self.folder / SONGS_FILE) as songs:
            self.song_arrays = {name: songs[name] for name in songs.files}
        with np.load(self.folder / FEATURES_FILE) as features:
            self.features = {name: features[name] for name in features.files}
        index = {image: i for i, image in enumerate(self.features["image_ids"].tolist())}
        self.test_images = self.queue["test_images"]
        self.test_rows = np.array([index[image] for image in self.test_images], int)  # (I,)

    def songs(self, key: str) -> tuple[list, list]:
        """Training and validation `batches.Song`s with the image features `key`."""
        arrays, features = self.song_arrays, self.features[key].astype(np.float32)  # (images, F)
        offsets = arrays["offsets"]
        songs = [Song(str(music), features[image], tuple(arrays["ids"][offsets[i] : offsets[i + 1]].tolist()))
                 for i, (music, image) in enumerate(zip(arrays["music_ids"], arrays["images"]))]
        return songs[: int(arrays["n_train"])], songs[int(arrays["n_train"]) :]

    def test_features(self, key: str) -> np.ndarray:
        """Features (I, F) float32 of the test images, in `test_images` order."""
        return self.features[key][self.test_rows].astype(np.float32)

    def va_loss(self, term: str = "argmax"):
        """The VA term (`losses.VA_TERMS[term]`) of the packed predictor, with the lookup tables computed on the CPU."""
        with np.load(self.folder / VA_TABLES_FILE) as tables:
            return VA_TERMS[term](self.vocabulary, VAPredictor.load(self.folder / VA_PREDICTOR_FOLDER),
                                  {name: tables[name] for name in tables.files})


class Compilations:
    """XLA compilations counted, and the seconds of tracing, lowering and compiling summed, from JAX's
    monitoring events while the block runs."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0

    def _heard(self, event: str, duration: float, **_) -> None:
        if event in COMPILE_EVENTS:
            self.count += event == COMPILE_EVENT
            self.seconds += duration

    def __enter__(self) -> "Compilations":
        import jax

        jax.monitoring.register_event_duration_secs_listener(self._heard)
        return self

    def __exit__(self, *_) -> None:
        import jax

        jax.monitoring.unregister_event_duration_listener(self._heard)


class Budget:
    """The seconds left, and the pace of the finished runs: seconds per cost unit, and fixed seconds per run
    (compilations, decoding) - the worst seen, since the next run may be slower per unit."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds - RESERVE_S
        self.per_unit: float | None = None
        self.fixed = 0.0

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def estimate(self, cost: int) -> float | None:
        """Expected seconds of a run of `cost` units; None before any run has finished."""
        return None if self.per_unit is None else cost * self.per_unit + self.fixed

    def learn(self, cost: int, steady: float, fixed: float) -> None:
        """Take in a finished run of `cost` units: `steady` seconds of epochs, `fixed` seconds of the rest."""
        self.per_unit = max(self.per_unit or 0.0, steady / cost)
        self.fixed = max(self.fixed, fixed)

    def refuses(self, cost: int) -> str | None:
        """Why a run of `cost` units should not start, or None when it may."""
        estimate, left = self.estimate(cost), self.left()
        if left <= 0:
            return f"no time left ({left:.0f} s)"
        if estimate is not None and estimate > left:
            return f"estimated {estimate:.0f} s, {left:.0f} s left"
        return None


class RunWatch(keras.callbacks.Callback):
    """During one run: decodes the test images greedily after each snapshot epoch, times every epoch apart
    from its compilations and decoding, and stops the run as soon as its remaining epochs cannot finish,
    unless its next snapshot epoch still can (the run then stops there, partial)."""

    def __init__(self, entry: Entry, features: np.ndarray, image_ids: list[str], vocabulary, max_len: int,
                 budget: Budget, compilations: Compilations):
        super().__init__()
        self.entry, self.features, self.image_ids, self.vocabulary = entry, features, image_ids, vocabulary
        self.max_len, self.budget, self.compilations = max_len, budget, compilations
        self.tokens: dict[int, dict[str, str]] = {}
        self.decode_seconds: dict[int, float] = {}
        self.epoch_seconds: list[float] = []
        self.steady_seconds: list[float] = []  # each epoch less its compilations and decoding
        self.stopped: str | None = None
        self._mark = (time.monotonic(), compilations.seconds)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        decoding = 0.0
        if done in self.entry.snapshot_epochs:
            began = time.monotonic()
            sequences = generate_tokens(self.model.net, self.features, self.vocabulary,  # (I,) token lists
                                        GenerationConfig(max_len=self.max_len), progress=False)
            self.tokens[done] = {image: " ".join(seq) for image, seq in zip(self.image_ids, sequences)}
            decoding = self.decode_seconds[done] = round(time.monotonic() - began, 3)
        now, compiled = time.monotonic(), self.compilations.seconds
        wall = now - self._mark[0]
        self.epoch_seconds.append(round(wall, 3))
        self.steady_seconds.append(max(wall - (compiled - self._mark[1]) - decoding, 0.0))
        self._mark = (now, compiled)
        left_epochs = self.entry.epochs - done
        if not left_epochs:
            return
        decode_guess = max(self.decode_seconds.values(), default=self.steady_seconds[-1])
        needed = self._seconds_to(self.entry.epochs, done, decode_guess)
        if needed <= self.budget.left():
            return
        upcoming = [e for e in self.entry.snapshot_epochs if done < e < self.entry.epochs]
        if upcoming and self._seconds_to(upcoming[0], done, decode_guess) <= self.budget.left():
            return  # a partial run still serves the rows of its snapshots (Table 1 reads epoch 2 of a 15-epoch run)
        self.stopped = (f"stopped after epoch {done}: {left_epochs} more epoch(s) need about {needed:.0f} s, "
                        f"{self.budget.left():.0f} s left")
        print(f"{self.entry.preset}: {self.stopped}")
        self.model.stop_training = True

    def _seconds_to(self, epoch: int, done: int, decode_guess: float) -> float:
        """Seconds from the end of epoch `done` to the end of `epoch`, its snapshot decodings included."""
        decodes = sum(done < e <= epoch for e in self.entry.snapshot_epochs)
        return (epoch - done) * self.steady_seconds[-1] + decodes * decode_guess


def run_queue(pack_dir: Path, out: Path, budget_s: float, jax_cache: Path | None = None) -> dict:
    """Train the packed queue in order within `budget_s` seconds; write `out/results.json` after every run."""
    import jax

    if keras.backend.backend() != "jax":
        raise UserError(f"the GPU queue runs under JAX, not {keras.backend.backend()}: set KERAS_BACKEND=jax")
    if budget_s <= RESERVE_S:
        raise UserError(f"--budget-s must exceed the {RESERVE_S:.0f} s kept for writing the results, got {budget_s}")
    budget = Budget(budget_s)
    if jax_cache is not None:
        jax.config.update("jax_compilation_cache_dir", str(jax_cache))
    data = PackData(pack_dir)
    results = {
        "format": FORMAT,
        "settings": data.queue["settings"],
        "vocabulary": data.vocabulary.tokens,
        "environment": {**environment(), "jax_devices": [f"{d.platform}: {d.device_kind}" for d in jax.devices()]},
        "budget_s": budget_s,
        "runs": [],
        "not_started": [],
    }
    print(f"{len(data.entries)} run(s) queued on {results['environment']['device']}; budget {budget_s:.0f} s")
    for entry in data.entries:
        estimate, reason = budget.estimate(entry.cost), budget.refuses(entry.cost)
        if reason:
            print(f"{entry.preset} seed {entry.seed}: not started ({reason})")
            results["not_started"].append({"preset": entry.preset, "seed": entry.seed, "reason": reason})
            continue
        print(f"{entry.preset} seed {entry.seed}: {entry.epochs} epochs"
              + (f", estimated {estimate:.0f} s" if estimate is not None else "") + f", {budget.left():.0f} s left")
        info = dataclasses.replace(RunInfo.from_dict(entry.run_info), keras=keras.__version__)
        record = _train_entry(entry, info, data, budget)
        results["runs"].append(record)
        write_json(Path(out) / RESULTS_FILE, results)
    results["seconds"] = round(budget_s - RESERVE_S - budget.left(), 1)
    path = write_json(Path(out) / RESULTS_FILE, results)
    finished = [f"{run['preset']} seed {run['seed']}" for run in results["runs"] if run["finished"]]
    print(f"finished {len(finished)} of {len(data.entries)} run(s) ({', '.join(finished) or 'none'}) in "
          f"{results['seconds']:.0f} s; wrote {path}")
    return results


def _train_entry(entry: Entry, info: RunInfo, data: PackData, budget: Budget) -> dict:
    """Train one entry with `train.fit_model` (checkpoints in a scratch folder) and return its record."""
    config = info.model
    train_songs, val_songs = data.songs(entry.features)
    va_loss = data.va_loss(config.va_term) if config.va_loss else None
    with Compilations() as compilations, tempfile.TemporaryDirectory() as scratch:
        watch = RunWatch(entry, data.test_features(entry.features), data.test_images, data.vocabulary,
                         config.max_len, budget, compilations)
        _, history = fit_model(config, train_songs, val_songs, Path(scratch), entry.seed, va_loss, verbose=2,
                               callbacks=[watch])
    finished = len(history) == entry.epochs and set(watch.tokens) == set(entry.snapshot_epochs)
    if finished:
        budget.learn(entry.cost, sum(watch.steady_seconds), compilations.seconds + sum(watch.decode_seconds.values()))
    return {
        "preset": entry.preset,
        "seed": entry.seed,
        "finished": finished,
        "stopped": watch.stopped,
        "run_info": info.to_dict(),
        "history": history,
        "tokens": {str(epoch): tokens for epoch, tokens in watch.tokens.items()},
        "timings": {
            "epoch_seconds": watch.epoch_seconds,
            "decode_seconds": {str(epoch): seconds for epoch, seconds in watch.decode_seconds.items()},
            "compilations": compilations.count,
            "compile_seconds": round(compilations.seconds, 3),
        },
    }
