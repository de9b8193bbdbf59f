"""Benchmark: the cost of one training step with the authors' padding to max_len and with length buckets,
without the VA term, with the on-device VA term, and with the paper's literal file-round-trip VA term
(token strings -> music21 MIDI file -> muspy -> predictor, every batch).

One step = one song-batch (all prefixes of one song -> next token, one Adam step), as in training. Padding:
`max_len` pads every prefix to 236 ids as the authors did; `bucket` pads a song's prefixes to its longest one
rounded up to 32 (what training does, `img2music_tf.batches`); `bucket+rows` also pads the batch rows to a
multiple of 32 (what training does where the step is XLA-compiled: JAX, TensorFlow on a GPU); `groups` splits
the song into row groups of --group-rows rows, each padded to its own length, gradients summed, one Adam step
(`batches.song_groups`: the same step up to float summation order). `--rows groups` times only `bucket` (the
old exact step) against `groups` (the new one), alternating passes so that both see the same load, and
`--memory` measures the peak resident memory of one step on the longest song in a fresh process per padding
(its VmHWM; Linux only). The plain and on-device
rows run compiled (tf.function / jax.jit); the literal VA term cannot be compiled (it writes files), so it
runs eagerly, as the authors' loop did; the eager plain row separates the cost of eager execution from the
cost of the file round trip. Steps run through `fit` with a timing callback, as in training; reported: median,
min and max ms per step over --steps steps, and ms per pass over all songs (an epoch of these songs), after a
first pass (which compiles).
Expected (measured, 2-core CPU, TensorFlow): buckets save most on short songs (an 80-token song: about 6x
per step) and little on songs near 236 tokens (the first 8 EIMG songs are long: about 1.3x per pass); padding
rows cost about 7% on a CPU; the on-device VA term costs a few percent over plain; the literal one is about
2x slower per step, mostly because it runs eagerly (music21 writes and muspy reads two MIDI files per step).
Runtime: about 10 minutes at smoke scale on a quiet 2-core CPU (all rows); --rows groups at paper scale on
the authors' songs, with --memory, about 15 minutes.
Command:  python reproduce/bench_train_step.py [--scale smoke] [--data eimg|authors] [--songs 8] [--steps 16]
          [--rows all|groups] [--group-rows 32] [--memory] [--va-predictor DIR]
Writes results/bench_train_step.csv and results/bench_train_step.md.
KERAS_BACKEND=jax python reproduce/bench_train_step.py --compilations [--scale paper] prints the XLA programs that
training and decoding compile (about 6 minutes at paper scale on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from img2music_tf.cli import Parser, quiet_tensorflow, run_reporting
from img2music_tf.commands import integer
from img2music_tf.presets import PRESET_NAMES

quiet_tensorflow()  # before Keras imports TensorFlow: no start-up log lines ($IMG2MUSIC_VERBOSE=1 shows them)
import keras  # noqa: E402

from img2music_tf.paths import project_dir, results_dir

DEFAULT_SOURCE = Path(os.environ.get("IMG2MUSIC_EIMG_SOURCE", project_dir().parent / "shared" / "data" / "eimg"))
AUTHORS_SOURCE = Path(os.environ.get("IMG2MUSIC_AUTHORS_SOURCE", project_dir().parent / "shared" / "data" / "authors"))
PRESET = "Trans_enc3_dec3_VA_Loss"


def load_songs(data: str, n: int, image_dim: int, seed: int):
    """`n` songs, their vocabulary, and a random image feature for each: the first `n` EIMG songs that
    tokenise, or `n` of the authors' training songs (midiData.txt) spread evenly over their lengths, the
    longest included."""
    import numpy as np

    from img2music_tf.batches import Song
    from img2music_tf.vocabulary import Vocabulary

    if data == "authors":
        from img2music_tf.data.authors import read_pairs

        every = sorted(read_pairs(AUTHORS_SOURCE / "midiData.txt").values(), key=len)
        vocabulary = Vocabulary.build(every)
        sequences = [every[round(k * (len(every) - 1) / max(n - 1, 1))] for k in range(n)]
    else:
        from img2music_tf.corpus import read_midi_source, tokenize_files

        source = DEFAULT_SOURCE / "dataset.zip" if (DEFAULT_SOURCE / "dataset.zip").is_file() else DEFAULT_SOURCE
        results = tokenize_files(read_midi_source(source)[: 2 * n], progress=False)
        sequences = [r.tokens for r in results if r.tokens][:n]
        vocabulary = Vocabulary.build(sequences)
    rng = np.random.default_rng(seed)
    songs = [Song(str(i), rng.normal(size=image_dim).astype(np.float32), tuple(vocabulary.encode(tokens)))
             for i, tokens in enumerate(sequences)]
    return songs, vocabulary


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training batch (one song = one step)."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []
        self.started = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(1000 * (time.perf_counter() - self.started))


# padding -> (bucket, batch_bucket, group rows or None); "groups" takes its rows from --group-rows
PADDINGS = {"max_len": (None, None, None), "bucket": (32, None, None), "bucket+rows": (32, 32, None),
            "groups": (32, None, 32)}


def song_batches(songs, max_len: int, seed: int, padding: str, group_rows: int):
    """The training batches of `songs` laid out as `padding` says."""
    from img2music_tf.batches import SongBatches

    bucket, batch_bucket, groups = PADDINGS[padding]
    return SongBatches(songs, max_len, seed=seed, bucket=bucket, batch_bucket=batch_bucket,
                       group_rows=groups and group_rows)


def passes(trainer, data, count: int) -> list[float]:
    """Milliseconds of each step of `count` passes over `data`, through `fit` as in training."""
    timer = StepTimer()
    trainer.fit(data, epochs=count, callbacks=[timer], shuffle=False, verbose=0)
    return timer.times


def build_trainer(config, va_loss, seed: int, eager: bool = False):
    from img2music_tf.models.img2music import build_model
    from img2music_tf.train import Img2MusicTrainer, compile_trainer

    keras.utils.set_random_seed(seed)
    trainer = Img2MusicTrainer(build_model(config), va_loss, config.lambda_va, config.lambda_cc)
    return compile_trainer(trainer, config, run_eagerly=eager)


def peak_memory_mb(args, padding: str) -> float:
    """Peak resident memory (MB) of a fresh process that builds the trainer and takes one step on the longest
    song laid out as `padding` (`--one-step`)."""
    command = [sys.executable, __file__, "--one-step", padding, "--scale", args.scale, "--data", args.data,
               "--songs", str(args.songs), "--group-rows", str(args.group_rows), "--seed", str(args.seed)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def one_step(config, songs, args) -> None:
    """One training step on the longest song; prints the peak resident memory in MB (last line): the process's
    VmHWM, which counts TensorFlow's and XLA's own buffers (tracemalloc does not), and, unlike
    `resource.getrusage`, not the memory of the parent it was forked from (Linux keeps that across exec)."""
    longest = max(songs, key=lambda song: len(song.ids))
    trainer = build_trainer(config, None, args.seed)
    inputs, targets = song_batches([longest], config.max_len, args.seed, args.one_step, args.group_rows)[0]
    trainer.train_on_batch(inputs, targets)
    status = Path("/proc/self/status").read_text().splitlines()
    print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024)  # kB


def count_compilations(config, seed: int, decode_images: int = 4) -> None:
    """JAX only: the XLA programs that training (one epoch of one song per training batch layout, and 4
    validation songs, as `train.fit_model` lays them out for the authors' songs) and greedy decoding (to
    max_len) compile, counted by name from JAX's monitoring events (`study.gpu_run.Compilations`); prints them."""
    import tempfile

    import numpy as np

    from img2music_tf.batches import Song
    from img2music_tf.data.authors import read_pairs
    from img2music_tf.decode import GenerationConfig, generate_ids, prefix_bucket
    from img2music_tf.study.gpu_run import Compilations
    from img2music_tf.train import fit_model, training_batches
    from img2music_tf.vocabulary import Vocabulary

    if keras.backend.backend() != "jax":
        raise SystemExit("--compilations counts XLA programs: run it with KERAS_BACKEND=jax")
    pairs = read_pairs(AUTHORS_SOURCE / "midiData.txt")  # the training pairs; the held-out ids are missing
    vocabulary = Vocabulary.build(pairs.values())
    rng = np.random.default_rng(seed)
    every = [Song(str(k), rng.normal(size=config.image_dim).astype(np.float32), tuple(vocabulary.encode(tokens)))
             for k, tokens in enumerate(pairs.values())]
    batches = training_batches(every, config.max_len, seed, xla=True)
    songs = [batches.songs[k] for k in batches.first_of_each_layout()]  # one per layout
    config = dataclasses.replace(config, vocab_size=len(vocabulary), epochs=1)

    def report(what: str, compilations: Compilations) -> None:
        names = {program["name"]: program["compilations"] for program in compilations.by_program()}
        print(f"{what}: {compilations.count} programs {names}")

    with Compilations() as compilations:
        net, _ = fit_model(config, songs, songs[1:5], Path(tempfile.mkdtemp()), seed, verbose=0)
    report(f"fit, {len(songs)} training batch layouts and 4 validation songs", compilations)
    features = rng.normal(size=(decode_images, config.image_dim)).astype(np.float32)
    with Compilations() as compilations:
        generate_ids(net, features, vocabulary.start_id, -1, GenerationConfig(max_len=config.max_len),  # no end
                     progress=False, bucket=prefix_bucket(net))
    report(f"greedy decoding to {config.max_len} tokens", compilations)


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="smoke", choices=("paper", "smoke", "tiny"), help="preset sizes")
    parser.add_argument("--data", default="eimg", choices=("eimg", "authors"),
                        help="EIMG songs (from $IMG2MUSIC_EIMG_SOURCE) or the authors' midiData.txt")
    parser.add_argument("--songs", type=integer(1), default=8, help="songs (batches) to cycle over (default 8)")
    parser.add_argument("--steps", type=int, default=16, help="timed steps per row (default 16)")
    parser.add_argument("--preset", default=PRESET, choices=PRESET_NAMES, help=f"the preset timed (default {PRESET})")
    parser.add_argument("--rows", default="all", choices=("all", "groups", "bucket"),
                        help="every row, only the old exact step (bucket) against row groups, or only bucket")
    parser.add_argument("--group-rows", type=int, default=32, help="rows per row group (default 32)")
    parser.add_argument("--memory", action="store_true", help="also the peak memory of one step, longest song")
    parser.add_argument("--compilations", action="store_true",
                        help="JAX only: count the XLA programs of training and decoding (authors' shapes), print them")
    parser.add_argument("--one-step", choices=tuple(PADDINGS), help=argparse.SUPPRESS)  # a --memory child
    parser.add_argument("--va-predictor", type=Path, default=None,
                        help="trained music VA predictor folder (default: an untrained one of the same size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=results_dir(), help="folder for the CSV and Markdown")
    args = parser.parse_args()

    from img2music_tf.presets import get_preset

    config = get_preset(args.preset, scale=args.scale)
    if args.compilations:
        count_compilations(config, args.seed)
        return
    songs, vocabulary = load_songs(args.data, args.songs, config.image_dim, args.seed)
    config = dataclasses.replace(config, vocab_size=len(vocabulary))
    if args.one_step:
        one_step(config, songs, args)
        return

    from img2music_tf.files import write_text
    from img2music_tf.losses import LiteralVALoss, VALoss
    from img2music_tf.models.va_predictor import VAPredictor, VAPredictorConfig, build_va_predictor

    if args.va_predictor:
        predictor = VAPredictor.load(args.va_predictor)
    else:
        keras.utils.set_random_seed(args.seed)
        predictor = VAPredictor(build_va_predictor(VAPredictorConfig()), VAPredictorConfig())

    on_device, literal = VALoss(vocabulary, predictor), LiteralVALoss(vocabulary, predictor)
    cases = [  # (VA term, execution, padding, loss, eager)
        ("none", "compiled", "max_len", None, False),
        ("none", "compiled", "bucket", None, False),
        ("none", "compiled", "bucket+rows", None, False),
        ("none", "compiled", "groups", None, False),
        ("on-device (VALoss)", "compiled", "bucket", on_device, False),
        ("none", "eager", "bucket", None, True),
        ("literal file round trip (LiteralVALoss)", "eager", "bucket", literal, True),
    ]
    if args.rows != "all":
        kept = {("none", "compiled", "bucket"), ("none", "compiled", args.rows)}
        cases = [case for case in cases if case[:3] in kept]
    n_passes = -(-args.steps // len(songs))
    trainers = [build_trainer(config, va_loss, args.seed, eager) for _, _, _, va_loss, eager in cases]
    data = [song_batches(songs, config.max_len, args.seed, padding, args.group_rows) for _, _, padding, _, _ in cases]
    first = [passes(trainer, batches, 1) for trainer, batches in zip(trainers, data)]  # compiles
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(n_passes):  # alternating passes: every row sees the same drift of the load
        for k, (trainer, batches) in enumerate(zip(trainers, data)):
            times[k] += passes(trainer, batches, 1)
    memory = {padding: peak_memory_mb(args, padding) for padding in ("bucket", "groups")} if args.memory else {}

    rows = []
    for (va_term, mode, padding, _, _), row_first, row_times in zip(cases, first, times):
        per_pass = [sum(row_times[k : k + len(songs)]) for k in range(0, len(row_times), len(songs))]
        rows.append({"va_term": va_term, "mode": mode, "padding": padding,
                     "median_ms": round(statistics.median(row_times), 1), "min_ms": round(min(row_times), 1),
                     "max_ms": round(max(row_times), 1), "steps": len(row_times),
                     "pass_ms": round(statistics.median(per_pass), 1), "first_pass_ms": round(sum(row_first), 1),
                     "peak_mb": round(memory[padding]) if va_term == "none" and padding in memory else "",
                     "load_1min": round(os.getloadavg()[0], 1)})
        print(f"{va_term:42s} {mode:9s} {padding:12s} median {rows[-1]['median_ms']:9.1f} ms/step, "
              f"{rows[-1]['pass_ms']:9.1f} ms/pass")
    base = next(row for row in rows if (row["va_term"], row["mode"], row["padding"]) == ("none", "compiled", "bucket"))
    for row in rows:
        row["x_plain_bucket"] = round(row["pass_ms"] / base["pass_ms"], 2)
    sentences = []
    groups = next((row for row in rows if row["padding"] == "groups"), None)
    if groups:
        sentences.append(f"In row groups of {args.group_rows} rows a pass over these songs runs **"
                         f"{base['pass_ms'] / groups['pass_ms']:.2f}x** as fast as with one batch per song (the same "
                         "exact step, one Adam step per song: tests/test_train.py).")
    if memory:
        sentences.append(f"Peak memory of one step on the longest song ({max(len(s.ids) for s in songs) - 1} "
                         f"samples), a fresh process each: {memory['bucket']:.0f} MB as one batch, "
                         f"{memory['groups']:.0f} MB in row groups.")
    if args.rows == "all":
        by = {(r["va_term"], r["padding"]): r for r in rows}
        literal_x = by[("literal file round trip (LiteralVALoss)", "bucket")]["median_ms"] / by[
            ("on-device (VALoss)", "bucket")]["median_ms"]
        sentences.append(f"Length buckets make a pass **{by[('none', 'max_len')]['pass_ms'] / base['pass_ms']:.2f}x** "
                         f"faster than the authors' padding to {config.max_len} (same results: padding is masked). "
                         f"The on-device VA term is **{literal_x:.1f}x** faster per step than the paper's literal "
                         "implementation (files written and read on every batch, eager execution).")

    columns = list(rows[0])
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "bench_train_step.csv",
               "\n".join([",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in rows]) + "\n")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared; load average "
               f"{os.getloadavg()[1]:.1f} over the last 5 minutes at the end: other work slows every row)")
    sizes = sorted(len(song.ids) - 1 for song in songs)
    source = "of the authors'" if args.data == "authors" else "EIMG"
    table = ["| VA term | execution | padding | median ms/step | min | max | ms/pass | first pass ms | "
             "x bucket (pass) | peak MB, one step | load |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    table += [f"| {r['va_term']} | {r['mode']} | {r['padding']} | {r['median_ms']} | {r['min_ms']} | {r['max_ms']} | "
              f"{r['pass_ms']} | {r['first_pass_ms']} | {r['x_plain_bucket']} | {r['peak_mb']} | {r['load_1min']} |"
              for r in rows]
    command = " ".join(["python reproduce/bench_train_step.py", f"--preset {args.preset}", f"--scale {args.scale}", f"--data {args.data}",
                        f"--songs {args.songs}", f"--steps {args.steps}", f"--rows {args.rows}",
                        f"--group-rows {args.group_rows}"] + (["--memory"] if args.memory else [])
                       + ([f"--va-predictor {args.va_predictor}"] if args.va_predictor else []))
    write_text(args.out / "bench_train_step.md", "\n".join([
        "# One training step: padding to max_len, to length buckets, in row groups; with and without the VA term",
        "",
        f"Preset {args.preset} at scale `{args.scale}`, backend {keras.backend.backend()}, {machine}. "
        f"{len(songs)} {source} songs cycled (batch = one song: "
        f"{sizes[0]}-{sizes[-1]} samples, median {statistics.median(sizes):.0f}); vocabulary: {len(vocabulary)} ids; "
        f"VA predictor {'from ' + str(args.va_predictor) if args.va_predictor else 'untrained, paper size'}; "
        f"median of {rows[0]['steps']} steps ({n_passes} passes over the songs, the rows' passes alternating) after "
        "a first pass (`first pass ms`: it includes compiling); `load` is the 1-minute load average at the end.",
        f"Command: `{command}`.",
        "",
        *table,
        "",
        " ".join(sentences),
        "",
    ]))


if __name__ == "__main__":
    sys.exit(run_reporting(main))
