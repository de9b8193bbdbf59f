"""Benchmark: the cost of one training step with the authors' padding to max_len and with length buckets,
without the VA term, with the on-device VA term, and with the paper's literal file-round-trip VA term
(token strings -> music21 MIDI file -> muspy -> predictor, every batch).

One step = one song-batch (all prefixes of one EIMG song -> next token), as in training. Padding: `max_len`
pads every prefix to 236 ids as the authors did; `bucket` pads a song's prefixes to its longest one rounded
up to 32 (what training does, `img2music_tf.batches`); `bucket+rows` also pads the batch rows to a multiple
of 32 (what training does where the step is XLA-compiled: JAX, TensorFlow on a GPU). The plain and on-device
rows run compiled (tf.function / jax.jit); the literal VA term cannot be compiled (it writes files), so it
runs eagerly, as the authors' loop did; the eager plain row separates the cost of eager execution from the
cost of the file round trip. Steps run through `fit` with a timing callback, as in training; reported: median,
min and max ms per step over --steps steps, and ms per pass over all songs (an epoch of these songs), after a
first pass (which compiles).
Expected (measured, 2-core CPU, TensorFlow): buckets save most on short songs (an 80-token song: about 6x
per step) and little on songs near 236 tokens (the first 8 EIMG songs are long: about 1.3x per pass); padding
rows cost about 7% on a CPU; the on-device VA term costs a few percent over plain; the literal one is about
2x slower per step, mostly because it runs eagerly (music21 writes and muspy reads two MIDI files per step).
Runtime: about 10 minutes at smoke scale on a quiet 2-core CPU.
Command:  python reproduce/bench_train_step.py [--scale smoke] [--songs 8] [--steps 16] [--va-predictor DIR]
Writes results/bench_train_step.csv and results/bench_train_step.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import keras

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path(os.environ.get("IMG2MUSIC_EIMG_SOURCE", REPO.parent / "shared" / "data" / "eimg"))
PRESET = "Trans_enc3_dec3_VA_Loss"


def load_songs(source: Path, n: int, image_dim: int, seed: int):
    """The first `n` EIMG songs that tokenise, their vocabulary, and a random image feature for each."""
    import numpy as np

    from img2music_tf.batches import Song
    from img2music_tf.corpus import read_midi_source, tokenize_files
    from img2music_tf.vocabulary import Vocabulary

    source = source / "dataset.zip" if (source / "dataset.zip").is_file() else source
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


PADDINGS = {"max_len": (None, None), "bucket": (32, None), "bucket+rows": (32, 32)}  # (bucket, batch_bucket)


def step_times(trainer, songs, max_len: int, steps: int, seed: int, padding: str) -> list[float]:
    """Milliseconds of a first (compiling) pass over the songs and then of `steps` training steps (whole
    passes), through `fit` as in training."""
    from img2music_tf.batches import SongBatches

    bucket, batch_bucket = PADDINGS[padding]
    data = SongBatches(songs, max_len, seed=seed, bucket=bucket, batch_bucket=batch_bucket)
    timer = StepTimer()
    epochs = 1 + -(-steps // len(songs))
    trainer.fit(data, epochs=epochs, callbacks=[timer], shuffle=False, verbose=0)
    return timer.times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="smoke", choices=("paper", "smoke", "tiny"), help="preset sizes")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="EIMG folder or a folder/zip of MIDI")
    parser.add_argument("--songs", type=int, default=8, help="songs (batches) to cycle over (default 8)")
    parser.add_argument("--steps", type=int, default=16, help="timed steps per row (default 16)")
    parser.add_argument("--va-predictor", type=Path, default=None,
                        help="trained music VA predictor folder (default: an untrained one of the same size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "results", help="folder for the CSV and Markdown")
    args = parser.parse_args()

    import dataclasses

    from img2music_tf.files import write_text
    from img2music_tf.losses import LiteralVALoss, VALoss
    from img2music_tf.models.img2music import build_model
    from img2music_tf.models.va_predictor import VAPredictor, VAPredictorConfig, build_va_predictor
    from img2music_tf.presets import get_preset
    from img2music_tf.train import Img2MusicTrainer, compile_trainer

    config = get_preset(PRESET, scale=args.scale)
    songs, vocabulary = load_songs(args.source, args.songs, config.image_dim, args.seed)
    config = dataclasses.replace(config, vocab_size=len(vocabulary))
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
        ("on-device (VALoss)", "compiled", "bucket", on_device, False),
        ("none", "eager", "bucket", None, True),
        ("literal file round trip (LiteralVALoss)", "eager", "bucket", literal, True),
    ]
    rows = []
    for va_term, mode, padding, va_loss, eager in cases:
        keras.utils.set_random_seed(args.seed)
        trainer = Img2MusicTrainer(build_model(config), va_loss, config.lambda_va, config.lambda_cc)
        compile_trainer(trainer, config, run_eagerly=eager)
        times = step_times(trainer, songs, config.max_len, args.steps, args.seed, padding)
        first, times = times[: len(songs)], times[len(songs) :]
        passes = [sum(times[k : k + len(songs)]) for k in range(0, len(times), len(songs))]
        rows.append({"va_term": va_term, "mode": mode, "padding": padding,
                     "median_ms": round(statistics.median(times), 1), "min_ms": round(min(times), 1),
                     "max_ms": round(max(times), 1), "steps": len(times),
                     "pass_ms": round(statistics.median(passes), 1), "first_pass_ms": round(sum(first), 1),
                     "load_1min": round(os.getloadavg()[0], 1)})
        print(f"{va_term:42s} {mode:9s} {padding:12s} median {rows[-1]['median_ms']:9.1f} ms/step, "
              f"{rows[-1]['pass_ms']:9.1f} ms/pass (load {rows[-1]['load_1min']})")
    base = rows[1]["median_ms"]
    for row in rows:
        row["x_plain_compiled"] = round(row["median_ms"] / base, 2)
    speedup = rows[0]["pass_ms"] / rows[1]["pass_ms"]
    literal_x = rows[5]["median_ms"] / rows[3]["median_ms"]
    print(f"buckets: a pass over the songs is {speedup:.2f}x faster than padding to max_len")
    print(f"on-device VA term is {literal_x:.1f}x faster than the literal one")

    columns = list(rows[0])
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "bench_train_step.csv",
               "\n".join([",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in rows]) + "\n")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared; load average "
               f"{os.getloadavg()[1]:.1f} over the last 5 minutes at the end: other work slows every row)")
    sizes = sorted(len(song.ids) - 1 for song in songs)
    table = ["| VA term | execution | padding | median ms/step | min | max | ms/pass | first pass ms | "
             "x plain bucket | load |", "|---|---|---|---|---|---|---|---|---|---|"]
    table += [f"| {r['va_term']} | {r['mode']} | {r['padding']} | {r['median_ms']} | {r['min_ms']} | {r['max_ms']} | "
              f"{r['pass_ms']} | {r['first_pass_ms']} | {r['x_plain_compiled']} | {r['load_1min']} |" for r in rows]
    write_text(args.out / "bench_train_step.md", "\n".join([
        "# One training step: padding to max_len or to length buckets, with and without the VA term",
        "",
        f"Preset {PRESET} at scale `{args.scale}`, backend {keras.backend.backend()}, {machine}. "
        f"{len(songs)} EIMG songs cycled (batch = one song: {sizes[0]}-{sizes[-1]} samples, median "
        f"{statistics.median(sizes):.0f}); vocabulary of these songs: {len(vocabulary)} ids; "
        f"VA predictor {'from ' + str(args.va_predictor) if args.va_predictor else 'untrained, paper size'}; "
        f"median of {rows[0]['steps']} steps ({rows[0]['steps'] // len(songs)} passes over the songs) after a "
        "first pass (`first pass ms`: it includes compiling); `load` is the 1-minute load average after the row.",
        f"Command: `python reproduce/bench_train_step.py --scale {args.scale} --songs {args.songs} "
        f"--steps {args.steps}{' --va-predictor ' + str(args.va_predictor) if args.va_predictor else ''}`.",
        "",
        *table,
        "",
        f"Length buckets make a pass over these songs **{speedup:.2f}x** faster than the authors' padding to "
        f"{config.max_len} (same results: padding is masked). "
        f"The on-device VA term is **{literal_x:.1f}x** faster per step than the paper's literal "
        "implementation (files written and read on every batch, eager execution).",
        "",
    ]))


if __name__ == "__main__":
    main()
