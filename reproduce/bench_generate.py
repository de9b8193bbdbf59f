"""Benchmark: one picture -> MIDI + WAV + piano roll with the shipped model on the CPU, start-up apart.

Start-up is what every `img2music generate` call pays before its first picture: the interpreter, the imports
(TensorFlow, Keras, img2music_tf) and loading the shipped model. Then the steps `generate.music_from_images`
takes per picture: the VGG16 feature, decoding (the shipped default: top-10 sampling with the note rule),
the MIDI file (music21), the WAV (FluidSynth) and the piano roll (matplotlib). A process's first picture
also pays what is done once (building the CNN, compiling the decoding step, each library's first use); the
same picture again in that process ("later") pays none of it. Every process starts with an empty feature
cache (`IMG2MUSIC_HOME`), and the later picture gets another, so every feature is computed. Besides the
steps: the wall time of `img2music generate PICTURE --out DIR` (one picture per call, WAV and piano roll
included) and of one call for all the pictures.

Pictures: three Emotion6 test pictures whose pieces (seed 0, alone) are short, the median length and the
236-token maximum (13 of the 82 test pictures reach it). Timings are medians over --repeats rounds, each
in fresh processes; the machine may be shared, so every figure comes with the 1-minute load average
(median over the rounds).

    python reproduce/bench_generate.py [--repeats 5] [--before results/bench_generate_before.json]

Writes results/bench_generate.json and .md; with --before, the .md puts that earlier record beside this one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.paths import project_dir, results_dir

EMOTION6 = Path(os.environ.get("IMG2MUSIC_EMOTION6_SOURCE",
                               project_dir().parent / "shared" / "data" / "emotion6" / "Emotion6-320px.zip"))
PICTURES = ("anger/201", "fear/26", "surprise/76")  # 13, 23 and 236 tokens with the shipped model, seed 0
STEPS = ("feature", "decode", "midi", "wav", "piano_roll")


def child(picture: Path) -> None:
    """In this fresh process: time the start-up, then the picture's steps twice (first, later); print JSON."""
    started = time.perf_counter()
    import keras  # noqa: F401 - TensorFlow and Keras, as every command imports them

    from img2music_tf import render, tokens
    from img2music_tf.decode import GenerationConfig, compiled_step, generate_tokens
    from img2music_tf.image_va import with_estimates
    from img2music_tf.pretrained import DEFAULT_GENERATION, model_folder
    from img2music_tf.run_folder import load_run

    imported = time.perf_counter()
    run = load_run(model_folder())
    step = compiled_step(run.model)  # as `music_from_images` decodes
    config = GenerationConfig(**{"max_len": run.config.max_len, **DEFAULT_GENERATION})
    record = {"imports": imported - started, "model load": time.perf_counter() - imported}
    out = Path(tempfile.mkdtemp())
    for which in ("first", "later"):
        os.environ["IMG2MUSIC_HOME"] = tempfile.mkdtemp()  # an empty feature cache: the CNN runs
        clock = time.perf_counter()

        def lap(step):
            nonlocal clock
            record[f"{which}: {step}"], clock = time.perf_counter() - clock, time.perf_counter()

        # a VA-conditioned model also reads the picture's VA, estimated as `generate` does (a second CNN pass)
        va = with_estimates([picture], [None])[0] if run.config.va_conditioned else None
        features = run.net_inputs([picture], va, progress=False)  # (1, F[+2])
        lap("feature")
        piece = generate_tokens(step, features, run.vocabulary, config, prefix_len=run.config.max_len,
                                progress=False)[0]
        lap("decode")
        midi = tokens.write_midi(piece, out / f"{which}.mid")
        lap("midi")
        render.write_wav(midi, out / f"{which}.wav")
        lap("wav")
        render.write_piano_roll(midi, out / f"{which}-pianoroll.png")
        lap("piano_roll")
        record[f"{which}: total"] = sum(record[f"{which}: {step}"] for step in STEPS)
        record["tokens"] = len(piece)
    print(json.dumps(record))


def timed(command: list[str]) -> tuple[float, str]:
    """Wall seconds and standard output of a command run in a fresh process with an empty feature cache."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "IMG2MUSIC_HOME": home, "PYTHONPATH": str(project_dir()), "TF_CPP_MIN_LOG_LEVEL": "3"}
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return wall, done.stdout


def extract_pictures(folder: Path) -> list[Path]:
    """The benchmark's pictures, read from the Emotion6 archive into `folder`."""
    if not EMOTION6.is_file():
        sys.exit(f"error: the Emotion6 archive is not at {EMOTION6}: set IMG2MUSIC_EMOTION6_SOURCE")
    paths = []
    with zipfile.ZipFile(EMOTION6) as archive:
        for name in PICTURES:
            paths.append(folder / f"{name.replace('/', '_')}.jpg")
            paths[-1].write_bytes(archive.read(f"Emotion6/images/{name}.jpg"))
    return paths


def measure(pictures: list[Path], repeats: int) -> dict:
    """{figure: [(seconds, 1-minute load average after it)] per round}."""
    samples: dict[str, list] = {}

    def add(name, seconds):
        samples.setdefault(name, []).append((seconds, os.getloadavg()[0]))

    with tempfile.TemporaryDirectory() as out:
        for _ in range(repeats):
            for picture in pictures:
                wall, output = timed([sys.executable, __file__, "--child", str(picture)])
                record = json.loads(output.strip().splitlines()[-1])
                label = f"{picture.stem} ({record.pop('tokens')} tokens)"
                add("start-up: process (interpreter, imports, model load)",
                    wall - record["first: total"] - record["later: total"])
                for key in ("imports", "model load"):
                    add(f"start-up: {key}", record.pop(key))
                for key, seconds in record.items():
                    add(f"{label}, {key}", seconds)
                add(f"`img2music generate` {picture.stem} --out DIR: wall",
                    timed(generate_command(out, [picture]))[0])
            add(f"`img2music generate` with all {len(pictures)} pictures: wall",
                timed(generate_command(out, pictures))[0])
    return {name: summary(values) for name, values in samples.items()}


def generate_command(out: str, pictures: list[Path]) -> list[str]:
    return [sys.executable, "-m", "img2music_tf", "generate", *map(str, pictures), "--out", out, "--force"]


def summary(values: list[tuple[float, float]]) -> dict:
    seconds = [s for s, _ in values]
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds), "n": len(seconds),
            "load": statistics.median(load for _, load in values)}


def markdown(result: dict, before: dict | None) -> str:
    lines = [
        "# One picture to MIDI + WAV + piano roll on the CPU (the shipped model)",
        "",
        f"{result['device']}, {result['backend']}; commit `{result['commit']}`; median of {result['repeats']} "
        "rounds of fresh processes (seconds; min-max in brackets); `load` is the median 1-minute load average "
        "(2 cores: above 2, other work slows every figure). `first`: the process's first picture (after "
        "start-up); `later`: the same picture again in that process. Command: `python reproduce/bench_generate.py"
        f" --repeats {result['repeats']}`.",
        "",
    ]
    header = "| figure | seconds | load |"
    rule = "|---|---|---|"
    if before:
        header += f" before (`{before['commit']}`) | load |"
        rule += "---|---|"
    lines += [header, rule]
    for name, row in result["figures"].items():
        line = f"| {name} | {row['median']:.2f} ({row['min']:.2f}-{row['max']:.2f}) | {row['load']:.1f} |"
        if before:
            old = before["figures"].get(name)
            line += f" {old['median']:.2f} | {old['load']:.1f} |" if old else " - | - |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of fresh processes (default: 5)")
    parser.add_argument("--before", type=Path, help="an earlier bench_generate.json to show beside this one")
    parser.add_argument("--out", type=Path, default=results_dir())
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.before and not args.before.is_file():
        parser.error(f"--before {args.before}: no such file")
    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None

    from img2music_tf.environment import environment
    from img2music_tf.files import write_json, write_text

    with tempfile.TemporaryDirectory() as folder:
        figures = measure(extract_pictures(Path(folder)), args.repeats)
    env = environment()
    result = {"commit": env["commit"], "device": env["device"], "backend": f"{env['backend']} {env['backend_version']}",
              "repeats": args.repeats, "figures": figures}
    write_json(args.out / "bench_generate.json", result)
    write_text(args.out / "bench_generate.md", markdown(result, before))
    print(markdown(result, before))
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting(main))
