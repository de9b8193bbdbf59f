"""The GPU side of the queue (`gpu_queue`): train the packed runs within a time budget, decode, report.

It imports only what a JAX-only GPU machine has with the wheels of `gpu_queue.download_wheels` (Keras,
NumPy, tqdm): no TensorFlow, music21, muspy or Pillow (tests/test_gpu_queue.py runs it where these
cannot be imported). Each entry of the queue is trained with the code of every CPU run
(`train.fit_model`: the same batches padded to buckets, padding rows, seeds), in queue order. A run
starts only when the pace of the finished runs (seconds per cost unit, plus their compilations and
decoding) says it can finish in the seconds left, and stops as soon as the pace of its own epochs says
its remaining ones cannot, unless its next snapshot epoch still can; a run that fails is recorded with its
error and the queue goes on. After each snapshot epoch the test images are decoded greedily
(`decode.generate_tokens`, all images in one batch). `results.json` holds the history, the tokens per
test image and epoch, the timings (seconds per epoch, XLA compilations with each program's compile seconds,
the device) and is rewritten after every run, so a call that is killed still returns the finished runs.
Meanwhile background processes compile the programs of the later runs into JAX's persistent cache
(`rehearsals`, `rehearse`), so that those runs read them instead of compiling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import keras
import numpy as np

from img2music_tf.batches import Song
from img2music_tf.environment import environment
from img2music_tf.errors import UserError
from img2music_tf.experiments import ALL, LATE, RESULTS_FILE
from img2music_tf.files import write_json
from img2music_tf.decode import GenerationConfig, generate_tokens
from img2music_tf.losses import VA_LOSSES
from img2music_tf.models.va_predictor import VAPredictor
from img2music_tf.run_folder import VOCABULARY_FILE, RunInfo
from img2music_tf.study.gpu_pack import (FEATURES_FILE, FORMAT, QUEUE_FILE, SONGS_FILE, VA_PREDICTOR_FOLDER,
                                        VA_TABLES_FILE, Entry)
from img2music_tf.train import fit_model, training_batches
from img2music_tf.vocabulary import Vocabulary

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # JAX's monitoring event of one XLA compilation
COMPILE_EVENTS = (COMPILE_EVENT, "/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration")  # tracing and lowering come before it
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"  # a program read from the persistent cache
RESERVE_S = 15.0  # seconds of the budget kept for writing the results
WARM_SHARE = 0.25  # compiling of a run read from the cache, as a share of a cold run's (guess until one finishes)


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
        """The VA term (`losses.VA_LOSSES[term]`) of the packed predictor, with the lookup tables computed on the
        CPU."""
        with np.load(self.folder / VA_TABLES_FILE) as tables:
            return VA_LOSSES[term](self.vocabulary, VAPredictor.load(self.folder / VA_PREDICTOR_FOLDER),
                                  {name: tables[name] for name in tables.files})


class Compilations:
    """XLA compilations counted, the seconds of tracing, lowering and compiling summed, and each program's
    compilations and compile seconds by name (`programs`), from JAX's monitoring events while the block runs;
    `cache_hits`: programs read from the persistent compilation cache instead."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self.cache_hits = 0
        self.programs: dict[str, list] = {}  # name -> [compilations, seconds]

    def _heard(self, event: str, duration: float, **kwargs) -> None:
        if event in COMPILE_EVENTS:
            self.seconds += duration
        if event == COMPILE_EVENT:
            self.count += 1
            program = self.programs.setdefault(str(kwargs.get("fun_name")), [0, 0.0])
            program[0] += 1
            program[1] += duration

    def _hit(self, event: str, **_) -> None:
        self.cache_hits += event == CACHE_HIT_EVENT

    def by_program(self) -> list[dict]:
        """Each program's name, compilations and compile seconds, the slowest first."""
        return [{"name": name, "compilations": count, "seconds": round(seconds, 3)}
                for name, (count, seconds) in sorted(self.programs.items(), key=lambda item: -item[1][1])]

    def __enter__(self) -> "Compilations":
        import jax

        jax.monitoring.register_event_duration_secs_listener(self._heard)
        jax.monitoring.register_event_listener(self._hit)
        return self

    def __exit__(self, *_) -> None:
        import jax

        jax.monitoring.unregister_event_duration_listener(self._heard)
        jax.monitoring.unregister_event_listener(self._hit)


class Budget:
    """The seconds left, and the pace of the finished runs: seconds per cost unit, seconds of decoding and of
    compiling per run - the worst seen, since the next run may be slower. Compiling is learnt apart for runs
    whose programs were compiled ahead into the cache (`rehearse`): until one such run has finished, they
    are expected to take `WARM_SHARE` of a cold run's compiling."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds - RESERVE_S
        self.per_unit: float | None = None
        self.decode = 0.0
        self.compile: dict[bool, float | None] = {False: None, True: None}  # rehearsed? -> worst seconds seen

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def estimate(self, cost: int, rehearsed: bool = False) -> float | None:
        """Expected seconds of a run of `cost` units; None before any run has finished."""
        if self.per_unit is None:
            return None
        compile_s = self.compile[rehearsed]
        if compile_s is None:  # only the other kind has finished (per_unit is set): scale its compiling
            compile_s = self.compile[not rehearsed] * (WARM_SHARE if rehearsed else 1 / WARM_SHARE)
        return cost * self.per_unit + self.decode + compile_s

    def learn(self, cost: int, steady: float, decode: float, compile_s: float, rehearsed: bool = False) -> None:
        """Take in a finished run of `cost` units: `steady` seconds of epochs, `decode` of decoding, `compile_s`
        of compiling (`rehearsed`: its programs were compiled ahead)."""
        self.per_unit = max(self.per_unit or 0.0, steady / cost)
        self.decode = max(self.decode, decode)
        self.compile[rehearsed] = max(self.compile[rehearsed] or 0.0, compile_s)

    def refuses(self, cost: int, rehearsed: bool = False) -> str | None:
        """Why a run of `cost` units should not start, or None when it may."""
        estimate, left = self.estimate(cost, rehearsed), self.left()
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


def use_cache(jax_cache: Path) -> None:
    """JAX's persistent compilation cache in `jax_cache`, every program kept (the rehearsals' are read back)."""
    import jax

    jax.config.update("jax_compilation_cache_dir", str(jax_cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


@contextlib.contextmanager
def rehearsals(pack_dir: Path, out: Path, jax_cache: Path | None, entries: int, processes: int):
    """While the block trains the queue, `processes` background processes (`img2music gpu warm`, logs in
    out/warm-N.log) compile its programs into the cache: first the batch layouts that the first run meets
    last (it compiles the others itself meanwhile), then every later run's, in queue order, dealt out in
    turn, at a lower CPU priority. Yields `rehearsed(index)`: whether entry `index` is done. The processes are
    stopped at the end."""
    jobs = [f"0:{LATE}"] + [f"{index}:{ALL}" for index in range(1, entries)]
    helpers = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as done:
        try:
            for k in range(min(processes, len(jobs))):
                command = [sys.executable, "-m", "img2music_tf", "gpu", "warm", "--pack", str(pack_dir),
                           "--jobs", ",".join(jobs[k::processes]), "--jax-cache", str(jax_cache), "--done", done]
                env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
                with open(out / f"warm-{k}.log", "w", encoding="utf-8") as log:  # the child keeps its own handle
                    helpers.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
            yield lambda index: (Path(done) / str(index)).exists()
        finally:
            for helper in helpers:
                helper.kill()
                helper.wait()


def rehearse(pack_dir: Path, jobs: list[tuple[int, str]], jax_cache: Path, done: Path | None = None) -> None:
    """Compile the programs of queue entries into the cache `jax_cache` without training them: for each job
    (entry index, `LATE` or `ALL` of its batch layouts), `train.fit_model` for one epoch on one training song
    per layout, with the run's validation songs, then one greedy decoding step of the test images - the code
    path of the run itself, so that the run reads every program from the cache. Marks each entry done in
    `done`. Runs at a lower CPU priority than the queue it serves."""
    os.nice(10)
    use_cache(jax_cache)
    data = PackData(pack_dir)
    for index, part in jobs:
        entry, began = data.entries[index], time.monotonic()
        config = dataclasses.replace(RunInfo.from_dict(entry.run_info).model, epochs=1)
        train_songs, val_songs = data.songs(entry.features)
        batches = training_batches(train_songs, config.max_len, entry.seed, xla=True, group_rows=config.group_rows,
                                   shuffle=config.shuffle_songs)
        layouts = batches.first_of_each_layout()
        if part == LATE and config.group_rows is None:  # (row groups: every item has the most groups of any song)
            layouts = layouts[len(layouts) // 2 :]
        va_loss = data.va_loss(config.va_term) if config.va_loss else None
        with Compilations() as compilations, tempfile.TemporaryDirectory() as scratch:
            net, _ = fit_model(config, [batches.songs[k] for k in layouts], val_songs, Path(scratch), entry.seed,
                               va_loss, verbose=0)
            # one decoding step, padded to max_len as every step of the run's decodings under XLA: their program
            generate_tokens(net, data.test_features(entry.features), data.vocabulary, GenerationConfig(max_len=2),
                            prefix_len=config.max_len, progress=False)
        if done is not None:
            (Path(done) / str(index)).touch()
        print(f"{entry.preset} seed {entry.seed}: {len(layouts)} batch layout(s) ({part}), {compilations.count} "
              f"program(s) ({compilations.cache_hits} read from the cache), {compilations.seconds:.0f} s of "
              f"tracing and compiling, {time.monotonic() - began:.0f} s in all", flush=True)


def run_queue(pack_dir: Path, out: Path, budget_s: float, jax_cache: Path | None = None, warm: int = 0) -> dict:
    """Train the packed queue in order within `budget_s` seconds; write `out/results.json` after every run.
    `warm` background processes compile the queue's programs into the cache `jax_cache` meanwhile (`rehearse`)."""
    import jax

    if keras.backend.backend() != "jax":
        raise UserError(f"the GPU queue runs under JAX, not {keras.backend.backend()}: set KERAS_BACKEND=jax")
    if budget_s <= RESERVE_S:
        raise UserError(f"--budget-s must exceed the {RESERVE_S:.0f} s kept for writing the results, got {budget_s}")
    if warm and jax_cache is None:
        raise UserError("warming (--warm) compiles into the persistent cache: give --jax-cache DIR")
    budget = Budget(budget_s)
    if jax_cache is not None:
        use_cache(jax_cache)
    data = PackData(pack_dir)
    results = {
        "format": FORMAT,
        "settings": data.queue["settings"],
        "vocabulary": data.vocabulary.tokens,
        "environment": {**environment(), "jax_devices": [f"{d.platform}: {d.device_kind}" for d in jax.devices()]},
        "budget_s": budget_s,
        "warm": warm,  # rehearsal processes beside the queue
        "runs": [],
        "not_started": [],
    }
    print(f"{len(data.entries)} run(s) queued on {results['environment']['device']}; budget {budget_s:.0f} s")
    with rehearsals(pack_dir, Path(out), jax_cache, len(data.entries), warm) as rehearsed:
        _train_queue(data, budget, results, Path(out), rehearsed)
    results["seconds"] = round(budget_s - RESERVE_S - budget.left(), 1)
    path = write_json(Path(out) / RESULTS_FILE, results)
    finished = [f"{run['preset']} seed {run['seed']}" for run in results["runs"] if run["finished"]]
    print(f"finished {len(finished)} of {len(data.entries)} run(s) ({', '.join(finished) or 'none'}) in "
          f"{results['seconds']:.0f} s; wrote {path}")
    return results


def _train_queue(data: PackData, budget: Budget, results: dict, out: Path, rehearsed) -> None:
    """Train each entry of the queue that the budget lets start; add its record to `results`, written after each.
    `rehearsed(index)`: whether entry `index`'s programs have been compiled ahead."""
    for index, entry in enumerate(data.entries):
        ahead = index > 0 and rehearsed(index)  # the first run compiles half of its programs itself
        estimate, reason = budget.estimate(entry.cost, ahead), budget.refuses(entry.cost, ahead)
        if reason:
            print(f"{entry.preset} seed {entry.seed}: not started ({reason})")
            results["not_started"].append({"preset": entry.preset, "seed": entry.seed, "reason": reason})
            continue
        print(f"{entry.preset} seed {entry.seed}: {entry.epochs} epochs"
              + (f", estimated {estimate:.0f} s" if estimate is not None else "") + f", {budget.left():.0f} s left")
        info = dataclasses.replace(RunInfo.from_dict(entry.run_info), keras=keras.__version__)
        try:
            record = _train_entry(entry, info, data, budget, ahead)
        except Exception as error:  # noqa: BLE001 - one failing run must not cost the window the runs after it
            traceback.print_exc()
            record = {"preset": entry.preset, "seed": entry.seed, "finished": False,
                      "stopped": f"failed: {type(error).__name__}: {error}"[:1000], "run_info": info.to_dict(),
                      "history": [], "tokens": {}, "timings": {}}
            print(f"{entry.preset} seed {entry.seed}: {record['stopped']}")
        results["runs"].append(record)
        write_json(out / RESULTS_FILE, results)


def _train_entry(entry: Entry, info: RunInfo, data: PackData, budget: Budget, rehearsed: bool) -> dict:
    """Train one entry with `train.fit_model` (checkpoints in a scratch folder) and return its record
    (`rehearsed`: its programs were compiled ahead into the cache)."""
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
        budget.learn(entry.cost, sum(watch.steady_seconds), sum(watch.decode_seconds.values()), compilations.seconds,
                     rehearsed)
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
            "rehearsed": rehearsed,
            "cache_hits": compilations.cache_hits,
            "programs": compilations.by_program(),
        },
    }
