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
from img2music_tf.environment import environment as machine_environment
from img2music_tf.errors import UserError
from img2music_tf.experiments import ALL, LATE, RESULTS_FILE
from img2music_tf.files import write_json
from img2music_tf.decode import GenerationConfig, generate_tokens
from img2music_tf.losses import VA_LOSSES
from img2music_tf.models.va_predictor import VAPredictor
from img2music_tf.run_folder import VOCABULARY_FILE, RunInfo
from img2music_tf.study.gpu_pack import (FEATURES_FILE, FORMAT, LANES_LOG, QUEUE_FILE, SONGS_FILE, VA_TABLES_FILE,
                                        Entry, to_bf16)
from img2music_tf.train import fit_model, training_batches
from img2music_tf.vocabulary import Vocabulary

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # JAX's monitoring event of one XLA compilation
COMPILE_EVENTS = (COMPILE_EVENT, "/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration")  # tracing and lowering come before it
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"  # a program read from the persistent cache
RESERVE_S = 15.0  # seconds of the budget kept for writing the results
WARM_SHARE = 0.25  # compiling of a run read from the cache, as a share of a cold run's (guess until one finishes)


class PackData:
    """A pack folder, read: the queue, and each data regime's vocabulary, songs and image features (on first use)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        try:
            self.queue = json.loads((self.folder / QUEUE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UserError(f"{self.folder} is not a GPU pack ({error}); make one with `img2music gpu pack`") from None
        if self.queue.get("format") != FORMAT:
            raise UserError(f"{self.folder} was packed by another version ({self.queue.get('format')}); pack it again")
        self.entries = [Entry.from_dict(entry) for entry in self.queue["entries"]]
        self._regimes: dict[str, dict] = {}

    def data(self, entry: Entry) -> str:
        """The data regime of `entry`'s part: its folder in the pack."""
        return self.queue["parts"][entry.part]["settings"]["data"]

    def regime(self, entry: Entry) -> dict:
        """`entry`'s data regime: vocabulary, song arrays, image features and the test images' rows."""
        data = self.data(entry)
        if data not in self._regimes:
            folder = self.folder / data
            with np.load(folder / SONGS_FILE) as songs, np.load(folder / FEATURES_FILE) as features:
                regime = {"vocabulary": Vocabulary.load(folder / VOCABULARY_FILE),
                          "songs": {name: songs[name] for name in songs.files},
                          "features": {name: features[name] for name in features.files}}
            index = {image: i for i, image in enumerate(regime["features"]["image_ids"].tolist())}
            test_images = self.queue["parts"][entry.part]["test_images"]
            regime["test_images"] = test_images
            regime["test_rows"] = np.array([index[image] for image in test_images], int)  # (I,)
            self._regimes[data] = regime
        return self._regimes[data]

    def vocabulary(self, entry: Entry) -> Vocabulary:
        return self.regime(entry)["vocabulary"]

    def test_images(self, entry: Entry) -> list[str]:
        return self.regime(entry)["test_images"]

    def songs(self, entry: Entry) -> tuple[list, list]:
        """Training and validation `batches.Song`s with `entry`'s image features."""
        regime = self.regime(entry)
        arrays, features = regime["songs"], regime["features"][entry.features].astype(np.float32)  # (images, F)
        offsets = arrays["offsets"]
        songs = [Song(str(music), features[image], tuple(arrays["ids"][offsets[i] : offsets[i + 1]].tolist()))
                 for i, (music, image) in enumerate(zip(arrays["music_ids"], arrays["images"]))]
        return songs[: int(arrays["n_train"])], songs[int(arrays["n_train"]) :]

    def test_features(self, entry: Entry) -> np.ndarray:
        """Features (I, F) float32 of the test images, in `test_images` order."""
        regime = self.regime(entry)
        return regime["features"][entry.features][regime["test_rows"]].astype(np.float32)

    def va_loss(self, entry: Entry, term: str = "argmax"):
        """The VA term (`losses.VA_LOSSES[term]`) of `entry`'s packed predictor, with the lookup tables computed
        on the CPU."""
        vocabulary = self.vocabulary(entry)
        with np.load(self.folder / self.data(entry) / VA_TABLES_FILE) as tables:
            return VA_LOSSES[term](vocabulary, VAPredictor.load(self.folder / entry.va_predictor),
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

    def __init__(self, seconds: float, origin: float | None = None):
        # lanes share the queue's start (`origin`) and so its deadline: time.monotonic() is the machine's clock,
        # the same in every process; the timings count from `origin`
        self.origin = time.monotonic() if origin is None else origin
        self.deadline = self.origin + seconds - RESERVE_S
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
        self.epoch_ends: list[float] = []  # seconds from the queue's start at each epoch's end (which ran beside)
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
        self.epoch_ends.append(round(now - self.budget.origin, 3))
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
        train_songs, val_songs = data.songs(entry)
        batches = training_batches(train_songs, config.max_len, entry.seed, xla=True, group_rows=config.group_rows,
                                   shuffle=config.shuffle_songs)
        layouts = batches.first_of_each_layout()
        if part == LATE and config.group_rows is None:  # (row groups: every item has the most groups of any song)
            layouts = layouts[len(layouts) // 2 :]
        va_loss = data.va_loss(entry, config.va_term) if config.va_loss else None
        with Compilations() as compilations, tempfile.TemporaryDirectory() as scratch:
            net, _ = fit_model(config, [batches.songs[k] for k in layouts], val_songs, Path(scratch), entry.seed,
                               va_loss, verbose=0)
            # one decoding step, padded to max_len as every step of the run's decodings under XLA: their program
            generate_tokens(net, data.test_features(entry), data.vocabulary(entry), GenerationConfig(max_len=2),
                            prefix_len=config.max_len, progress=False)
        if done is not None:
            (Path(done) / str(index)).touch()
        print(f"{entry.preset} seed {entry.seed}: {len(layouts)} batch layout(s) ({part}), {compilations.count} "
              f"program(s) ({compilations.cache_hits} read from the cache), {compilations.seconds:.0f} s of "
              f"tracing and compiling, {time.monotonic() - began:.0f} s in all", flush=True)


def run_queue(pack_dir: Path, out: Path, budget_s: float, jax_cache: Path | None = None, warm: int = 0,
              lanes: int = 1) -> dict:
    """Train the packed queue within `budget_s` seconds; write `out/results.json` after every run. With one lane
    the runs follow one another in queue order, and `warm` background processes compile the later runs'
    programs into the cache `jax_cache` meanwhile (`rehearse`); with several, `lanes` processes share the GPU
    (`run_lanes`)."""
    if keras.backend.backend() != "jax":
        raise UserError(f"the GPU queue runs under JAX, not {keras.backend.backend()}: set KERAS_BACKEND=jax")
    if budget_s <= RESERVE_S:
        raise UserError(f"--budget-s must exceed the {RESERVE_S:.0f} s kept for writing the results, got {budget_s}")
    if warm and jax_cache is None:
        raise UserError("warming (--warm) compiles into the persistent cache: give --jax-cache DIR")
    if lanes > 1 and warm:
        raise UserError("--warm compiles ahead for one lane; several lanes compile side by side: give --warm 0")
    budget = Budget(budget_s)
    data = PackData(pack_dir)
    out = Path(out)
    if lanes > 1:
        results = run_lanes(data, out, budget, jax_cache, _results(data.queue, budget_s, {}, warm=0, lanes=lanes))
    else:
        if jax_cache is not None:
            use_cache(jax_cache)
        results = _results(data.queue, budget_s, environment(), warm=warm, lanes=1)
        print(f"{len(data.entries)} run(s) queued on {results['environment']['device']}; budget {budget_s:.0f} s")
        with rehearsals(pack_dir, out, jax_cache, len(data.entries), warm) as rehearsed:
            _train_queue(data, budget, results, out / RESULTS_FILE, out, rehearsed, Claims(None))
    results["seconds"] = round(budget_s - RESERVE_S - budget.left(), 1)
    path = write_json(out / RESULTS_FILE, results)
    finished = [f"{run['part']} {run['preset']} seed {run['seed']}" for run in results["runs"] if run["finished"]]
    print(f"finished {len(finished)} of {len(data.entries)} run(s) ({', '.join(finished) or 'none'}) in "
          f"{results['seconds']:.0f} s; wrote {path}")
    return results


def _results(queue: dict, budget_s: float, environment_: dict, warm: int, lanes: int) -> dict:
    """The results record of a queue before its runs: what merge needs besides them."""
    return {
        "format": FORMAT,
        "parts": queue["parts"],
        "vocabularies": {},  # data regime -> its tokens, added by its first run
        "environment": environment_,
        "budget_s": budget_s,
        "warm": warm,  # rehearsal processes beside the queue
        "lanes": lanes,  # processes training side by side
        "runs": [],
        "not_started": [],
    }


def environment() -> dict:
    """`environment.environment()` with JAX's devices (this initialises the GPU: in a lane, not in the parent)."""
    import jax

    return {**machine_environment(), "jax_devices": [f"{d.platform}: {d.device_kind}" for d in jax.devices()]}


class Claims:
    """Which lane trains which entry: a lane takes an entry by creating its file in `folder` (atomic, so two
    lanes never take the same); with no folder, one lane takes them all."""

    def __init__(self, folder: Path | None, lane: int = 0):
        self.folder, self.lane = folder, lane

    def take(self, index: int) -> bool:
        if self.folder is None:
            return True
        try:
            descriptor = os.open(self.folder / str(index), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.write(descriptor, str(self.lane).encode())
        os.close(descriptor)
        return True

    def holder(self, index: int) -> int | None:
        """The lane that took entry `index`, or None."""
        path = self.folder / str(index)
        return int(path.read_text() or -1) if path.is_file() else None


def run_lanes(data: PackData, out: Path, budget: Budget, jax_cache: Path | None, base: dict) -> dict:
    """Train the queue in `lanes` processes at once on one GPU, each with 1/lanes of its memory (preallocated),
    all reading and writing one persistent compilation cache, so that they compile side by side on the
    machine's CPU cores. Each lane takes the next entry no lane has taken, in queue order, and starts it
    when its own pace says it can finish by the common deadline (`Budget`). The results of all lanes are
    gathered into out/results.json every few seconds; a lane that dies is recorded against the run it was
    training, and the others go on. Their output goes to out/lanes.log when they end. `base`: the results
    record without runs."""
    lanes = base["lanes"]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "claims").mkdir()
        env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "true",
               "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / lanes:.3f}"}
        processes = []
        try:
            for lane in range(lanes):
                spec = json.dumps({"pack": str(data.folder), "out": str(out), "scratch": str(scratch), "lane": lane,
                                   "origin": budget.origin, "budget_s": base["budget_s"],
                                   "jax_cache": str(jax_cache) if jax_cache else None})
                with open(scratch / f"lane-{lane}.log", "w", encoding="utf-8") as log:  # the child keeps its own
                    processes.append(subprocess.Popen(
                        [sys.executable, "-c", f"from {__name__} import lane_main; lane_main()", spec],
                        stdout=log, stderr=subprocess.STDOUT, env=env))
            print(f"{len(data.entries)} run(s) queued in {lanes} lanes; budget {base['budget_s']:.0f} s", flush=True)
            while any(process.poll() is None for process in processes) and budget.left() > -RESERVE_S / 2:
                time.sleep(2.0)
                write_json(out / RESULTS_FILE, _gathered(base, scratch, data, processes, final=False))
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                process.wait()
            _gather_logs(scratch, lanes, out / LANES_LOG)
        print((out / LANES_LOG).read_text(encoding="utf-8"), end="")
        return _gathered(base, scratch, data, processes, final=True)


def _gathered(base: dict, scratch: Path, data: PackData, processes: list, final: bool) -> dict:
    """The lanes' results in one record: their runs in queue order; at the end, a run whose lane died and an
    entry no lane took are recorded too."""
    records = []
    for path in sorted(scratch.glob("lane-*.json")):
        with contextlib.suppress(OSError, ValueError):  # a lane may be writing it (write_json replaces it whole)
            records.append(json.loads(path.read_text(encoding="utf-8")))
    results = {**base,
               "environment": next((r["environment"] for r in records), base["environment"]),
               "runs": sorted((run for r in records for run in r["runs"]), key=lambda run: run["index"]),
               "not_started": sorted((e for r in records for e in r["not_started"]), key=lambda e: e["index"]),
               "vocabularies": {k: v for r in records for k, v in r["vocabularies"].items()}}
    if final:
        claims, done = Claims(scratch / "claims"), {run["index"] for run in results["runs"]}
        done |= {entry["index"] for entry in results["not_started"]}
        for index in sorted(set(range(len(data.entries))) - done):
            entry = data.entries[index]
            lane = claims.holder(index)
            if lane is None:
                results["not_started"].append(_not_started(index, entry, "no lane took it before the end"))
            else:
                code = processes[lane].returncode
                results["runs"].append(_failed(index, entry, entry.run_info,
                                               f"lane {lane} ended (exit code {code}) during this run: "
                                               f"{_last_line(scratch / f'lane-{lane}.log')}"))
        results["runs"].sort(key=lambda run: run["index"])
    return results


def _last_line(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.is_file() else []
    return lines[-1][:500] if lines else "no output"


def _gather_logs(scratch: Path, lanes: int, target: Path) -> None:
    """The lanes' logs, one after another, into `target` (one file comes back instead of one per lane)."""
    with open(target, "w", encoding="utf-8") as gathered:
        for lane in range(lanes):
            log = scratch / f"lane-{lane}.log"
            gathered.write(f"===== lane {lane}\n")
            gathered.write(log.read_text(encoding="utf-8", errors="replace") if log.is_file() else "(no log)\n")


def lane_main() -> None:
    """One lane of `run_lanes`, in its own process: take entries and train them until none is left or time is up;
    write scratch/lane-K.json after each."""
    spec = json.loads(sys.argv[-1])
    if spec["jax_cache"]:
        use_cache(Path(spec["jax_cache"]))
    data, scratch = PackData(Path(spec["pack"])), Path(spec["scratch"])
    budget = Budget(spec["budget_s"], origin=spec["origin"])
    results = _results(data.queue, spec["budget_s"], environment(), warm=0, lanes=0)
    path = scratch / f"lane-{spec['lane']}.json"
    write_json(path, results)
    print(f"lane {spec['lane']} on {results['environment']['device']}", flush=True)
    _train_queue(data, budget, results, path, Path(spec["out"]), lambda index: False,
                 Claims(scratch / "claims", spec["lane"]))


def _not_started(index: int, entry: Entry, reason: str) -> dict:
    """The record of an entry that was not started."""
    return {"index": index, "part": entry.part, "preset": entry.preset, "seed": entry.seed, "reason": reason}


def _failed(index: int, entry: Entry, run_info: dict, why: str) -> dict:
    """The record of a run that failed."""
    return {"index": index, "part": entry.part, "preset": entry.preset, "seed": entry.seed, "finished": False,
            "stopped": f"failed: {why}"[:1000], "run_info": run_info, "history": [], "tokens": {}, "timings": {}}


def _train_queue(data: PackData, budget: Budget, results: dict, path: Path, weights_dir: Path, rehearsed,
                 claims: Claims) -> None:
    """Train each entry of the queue that `claims` lets this lane take and the budget lets start; add its record
    to `results`, written to `path` after each. `rehearsed(index)`: whether entry `index`'s programs have been
    compiled ahead."""
    for index, entry in enumerate(data.entries):
        if not claims.take(index):
            continue
        ahead = index > 0 and rehearsed(index)  # the first run compiles half of its programs itself
        estimate, reason = budget.estimate(entry.cost, ahead), budget.refuses(entry.cost, ahead)
        name = f"{entry.part} {entry.preset} seed {entry.seed}"
        if reason:
            print(f"{name}: not started ({reason})", flush=True)
            results["not_started"].append(_not_started(index, entry, reason))
            write_json(path, results)
            continue
        print(f"{name}: {entry.epochs} epochs" + (f", estimated {estimate:.0f} s" if estimate is not None else "")
              + f", {budget.left():.0f} s left", flush=True)
        info = dataclasses.replace(RunInfo.from_dict(entry.run_info), keras=keras.__version__)
        try:
            record = {"index": index, **_train_entry(entry, info, data, budget, ahead, weights_dir)}
        except Exception as error:  # noqa: BLE001 - one failing run must not cost the window the runs after it
            traceback.print_exc()
            record = _failed(index, entry, info.to_dict(), f"{type(error).__name__}: {error}")
            print(f"{name}: {record['stopped']}", flush=True)
        results["vocabularies"].setdefault(data.data(entry), data.vocabulary(entry).tokens)
        results["runs"].append(record)
        write_json(path, results)


def _train_entry(entry: Entry, info: RunInfo, data: PackData, budget: Budget, rehearsed: bool, weights_dir: Path
                 ) -> dict:
    """Train one entry with `train.fit_model` (checkpoints in a scratch folder) and return its record
    (`rehearsed`: its programs were compiled ahead into the cache); its final weights go to `weights_dir` in
    bf16 when the entry keeps them."""
    config = info.model
    train_songs, val_songs = data.songs(entry)
    va_loss = data.va_loss(entry, config.va_term) if config.va_loss else None
    started = time.monotonic() - budget.origin
    with Compilations() as compilations, tempfile.TemporaryDirectory() as scratch:
        watch = RunWatch(entry, data.test_features(entry), data.test_images(entry), data.vocabulary(entry),
                         config.max_len, budget, compilations)
        net, history = fit_model(config, train_songs, val_songs, Path(scratch), entry.seed, va_loss, verbose=2,
                                 callbacks=[watch])
    finished = len(history) == entry.epochs and set(watch.tokens) == set(entry.snapshot_epochs)
    if finished:
        budget.learn(entry.cost, sum(watch.steady_seconds), sum(watch.decode_seconds.values()), compilations.seconds,
                     rehearsed)
    weights = None
    if finished and entry.keep_weights:
        weights = entry.weights_file
        np.savez(weights_dir / weights, **{f"w{i}": to_bf16(w) for i, w in enumerate(net.get_weights())})
    return {
        "part": entry.part,
        "preset": entry.preset,
        "seed": entry.seed,
        "finished": finished,
        "stopped": watch.stopped,
        "run_info": info.to_dict(),
        "history": history,
        "tokens": {str(epoch): tokens for epoch, tokens in watch.tokens.items()},
        "weights": weights,
        "timings": {
            "epoch_seconds": watch.epoch_seconds,
            "steady_seconds": [round(seconds, 3) for seconds in watch.steady_seconds],
            "started_s": round(started, 3),  # from the queue's start, shared by the lanes
            "epoch_ends_s": watch.epoch_ends,
            "decode_seconds": {str(epoch): seconds for epoch, seconds in watch.decode_seconds.items()},
            "compilations": compilations.count,
            "compile_seconds": round(compilations.seconds, 3),
            "rehearsed": rehearsed,
            "cache_hits": compilations.cache_hits,
            "programs": compilations.by_program(),
        },
    }
