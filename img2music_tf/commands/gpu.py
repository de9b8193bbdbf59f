"""`img2music gpu pack|wheels|run|warm|merge`: paper-scale runs through a GPU lent in short windows (`gpu_queue`,
`gpu_run`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from img2music_tf.commands.reproduce import add_settings_options, settings_from_args
from img2music_tf.errors import UserError
from img2music_tf.experiments import (ALL, FEATURE_DTYPES, LATE, PACK_LIMIT_MIB, QUEUES, RESULTS_FILE, QueuePart,
                                      training_plan)
from img2music_tf.paths import gpu_dir

JAX_CACHE = "/tmp/img2music_tf-jax-cache"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "gpu",
        help="train the paper-scale runs on a GPU in one short call: pack here, run there, merge here",
        description=(
            "Paper-scale rows need a GPU, which may come for minutes, without TensorFlow or internet. So:\n"
            "  1. gpu pack   (here, CPU): prepared data, vocabulary, songs as ids, image features, the music VA "
            "predictor and its lookup tables, reference metrics, and the queue of trainings (the runs that serve "
            "the most table rows first) into one folder;\n"
            "  2. gpu wheels (here, needs PyPI): the wheels the GPU machine lacks for Keras on JAX;\n"
            "  3. gpu run    (GPU, KERAS_BACKEND=jax): trains the queue within a time budget, decodes the test "
            f"images at the snapshot epochs, writes OUT/{RESULTS_FILE}; --lanes processes train side by side, "
            "sharing the GPU and the compilation cache;\n"
            "  4. gpu merge  (here): turns the results into run folders (generated tokens instead of weights) and "
            "renders Table 1, Table 2 and Figure 3 from every run present, naming the missing rows, and what the "
            "window measured (results/gpu_window.md)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="make paper-gpu-pack; make paper-gpu OUT=DIR (on the GPU machine); make paper-gpu-merge RESULTS=DIR",
    )
    steps = parser.add_subparsers(dest="gpu_command", required=True, metavar="STEP")

    pack = steps.add_parser(
        "pack", help="prepare everything the GPU does not need, and the queue, into one folder (CPU)",
        description="Do on the CPU all that the GPU does not need, for the settings of `img2music reproduce`, and\n"
                    f"write the queue of trainings into --out (replaced at once; at most {PACK_LIMIT_MIB} MiB, so that it\n"
                    "travels with the repository). ImageNet weights that cannot be had fall back to the installed\n"
                    "torchvision ones, or fail first.",
        epilog="examples: img2music gpu pack --queue paper --feature-dtype float16   (= make paper-gpu-pack)\n"
               "          img2music gpu pack --scale paper --data eimg --presets LSTM_enc2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pack.add_argument("--out", default=str(gpu_dir() / "pack"), metavar="DIR",
                      help="the pack folder (default: gpu/pack/ of the checkout, else of the current directory)")
    pack.add_argument("--feature-dtype", choices=FEATURE_DTYPES, default="float32",
                      help="how the image features are stored: float32 (exactly the CPU's) or float16 (half the "
                           "size, for large features) (default: %(default)s)")
    pack.add_argument("--presets", nargs="+", default=None, metavar="PRESET",
                      help="queue only these of the trained presets (" + ", ".join(training_plan()) + "), e.g. "
                           "for a short window (default: all, the ones serving the most table rows first)")
    pack.add_argument("--queue", choices=tuple(QUEUES), default=None,
                      help="a named queue of several parts instead of --data, --seeds, --fidelity and --presets: "
                           "paper = both data regimes' runs of every artefact, then Table 1's runs for seeds 1-4 "
                           "in the authors' regime, then the fidelity runs (2 epochs each at fidelities "
                           "file-order and script-rates), in that order (experiments.QUEUES)")
    add_settings_options(pack, scale="paper")
    pack.set_defaults(run=run_pack)

    wheels = steps.add_parser(
        "wheels", help="download the wheels a JAX-only GPU machine lacks for Keras (needs PyPI)",
        description="Download this Keras and tqdm with their dependencies as wheels for the GPU machine's Python, "
                    "less the packages it has (NumPy, h5py, ml_dtypes, SciPy, JAX), into --out.",
    )
    wheels.add_argument("--out", default=str(gpu_dir() / "wheels"), metavar="DIR",
                        help="the wheels folder (default: gpu/wheels/ of the checkout, else of the current directory)")
    wheels.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default: %(default)s)")
    wheels.add_argument("--platform", default="manylinux2014_x86_64",
                        help="the GPU machine's wheel platform (default: %(default)s)")
    wheels.set_defaults(run=run_wheels)

    run = steps.add_parser(
        "run", help="train the packed queue within a time budget and decode the test images (GPU, JAX)",
        description="Train the packed runs in queue order under KERAS_BACKEND=jax with the code of CPU training, in "
                    "--lanes processes at once. "
                    "A run starts only when the pace of the runs before it says it can finish in the seconds left, "
                    "and stops as soon as its epochs say it cannot (after its next snapshot epoch, when that still "
                    "fits). After each snapshot epoch the test images are decoded greedily. "
                    f"OUT/{RESULTS_FILE} (history, tokens, timings, device) is rewritten after every run; a run "
                    "that fails is recorded with its error and the queue goes on. Weights are not kept, but for the "
                    "runs the pack marks (OUT/weights-*.npz, bf16).",
        epilog="example: KERAS_BACKEND=jax img2music gpu run --pack gpu/pack --budget-s 540 --out $OUT",
    )
    run.add_argument("--pack", default=str(gpu_dir() / "pack"), metavar="DIR",
                     help="a folder written by `gpu pack` (default: gpu/pack/ of the checkout, else of the current "
                          "directory)")
    run.add_argument("--budget-s", type=float, default=540.0, metavar="SECONDS",
                     help="wall-clock seconds the queue may take, writing included (default: %(default)s)")
    run.add_argument("--out", required=True, metavar="DIR", help=f"folder for {RESULTS_FILE}")
    run.add_argument("--jax-cache", default=JAX_CACHE, metavar="DIR",
                     help="JAX's persistent compilation cache (default: %(default)s)")
    run.add_argument("--lanes", type=int, default=4, metavar="N",
                     help="processes training side by side on the GPU, each with 1/N of its memory, compiling on the "
                          "machine's CPU cores at once and sharing the compilation cache; each takes the next run no "
                          "lane has taken, in queue order; a lane that dies is recorded and the others go on "
                          "(logs OUT/lanes.log) (default: %(default)s)")
    run.add_argument("--warm", type=int, default=0, metavar="N",
                     help="with --lanes 1: background processes that compile the queue's programs into the cache "
                          "while it trains (`gpu warm`; logs OUT/warm-K.log), so that the later runs read them "
                          "instead of compiling; 0: none (default: %(default)s)")
    run.set_defaults(run=run_queue)

    warm = steps.add_parser(
        "warm", help="compile queued runs' programs into JAX's cache without training them (started by `gpu run`)",
        description="For each job ENTRY:PART (the entry's index in the queue; PART `all` or `late`: every batch "
                    "layout, or the half the run's first epoch meets last), train the entry for one epoch on one "
                    "song per batch layout with its validation, and take one decoding step of the test images: the run's own "
                    "programs, kept in the persistent cache, which the run then reads instead of compiling.",
        epilog="example: KERAS_BACKEND=jax img2music gpu warm --pack gpu/pack --jobs 1:all,3:all",
    )
    warm.add_argument("--pack", default=str(gpu_dir() / "pack"), metavar="DIR",
                      help="a folder written by `gpu pack` (default: gpu/pack/ of the checkout, else of the current "
                           "directory)")
    warm.add_argument("--jobs", required=True, type=_jobs, metavar="ENTRY:PART,...",
                      help="entries and parts to compile, e.g. 0:late,2:all")
    warm.add_argument("--jax-cache", default=JAX_CACHE, metavar="DIR",
                      help="JAX's persistent compilation cache (default: %(default)s)")
    warm.add_argument("--done", default=None, metavar="DIR", help="mark each entry compiled with a file DIR/ENTRY")
    warm.set_defaults(run=run_warm)

    merge = steps.add_parser(
        "merge", help="turn the GPU's results into run folders and render the tables and figure (CPU)",
        description="Write each run the GPU trained (one stopped early too: its epochs and snapshots) as a run "
                    "folder at the reproduction's own path (config.json, vocabulary.json, history.csv, timings.json, "
                    "test_tokens/epoch-NNN.json instead of weights), "
                    "then render Table 1, Table 2 and Figure 3 from every run present: the tokens become MIDI, "
                    "muspy metrics and predicted VA as for a run trained here. Rows without a run are named missing.",
        epilog="example: img2music gpu merge gpu/results   (= make paper-gpu-merge RESULTS=gpu/results)",
    )
    merge.add_argument("results", metavar="RESULTS", help=f"the folder holding the GPU's {RESULTS_FILE}, or a copy of "
                                                           "that file (e.g. results/gpu/<date>-<device>-<data>.json)")
    merge.add_argument("--out", default=None, metavar="DIR",
                       help="results folder: each part's artefacts (.json, .md, .png) go to DIR/<data>/<scale>/, or "
                            "DIR/<data>/<scale>-<fidelity>/ for another fidelity than the paper's (default: results/ "
                            "of the checkout, else of the current directory, e.g. results/authors/paper/)")
    merge.add_argument("--work", default=None, metavar="DIR",
                       help="the reproduction's work folder (default: the one the pack was made with)")
    merge.set_defaults(run=run_merge)


# The study's modules are imported inside each run: --help loads the command layer and the configs only
# (tests/test_cli.py), and `gpu run` must not import what `gpu pack` needs (TensorFlow, music21).


def run_pack(args) -> int:
    from img2music_tf.study.gpu_queue import pack

    if args.queue and args.presets:
        raise UserError(f"--queue {args.queue} names its presets: give --queue or --presets, not both")
    settings = settings_from_args(args, Path(args.out), backend="jax")
    if args.queue:
        parts = QUEUES[args.queue]
    else:
        parts = (QueuePart(settings.data, settings.seeds, settings.fidelity,
                           presets=tuple(args.presets) if args.presets else None),)
    pack(settings, parts, Path(args.out), args.feature_dtype)
    return 0


def run_wheels(args) -> int:
    from img2music_tf.study.gpu_queue import download_wheels

    download_wheels(Path(args.out), args.python_version, args.platform)
    return 0


def _needs_jax() -> None:
    """`gpu run` and `gpu warm` train under JAX (the GPU machine has no TensorFlow): say so in one line where it
    is missing, instead of a ModuleNotFoundError from deep inside."""
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        raise UserError("the GPU queue runs under JAX, which is not installed here: run it on the GPU machine "
                        "(make paper-gpu), or `pip install -e '.[jax]'` and KERAS_BACKEND=jax")


def run_queue(args) -> int:
    if args.warm < 0:
        raise UserError(f"--warm must be 0 (no warming processes) or more, got {args.warm}")
    if args.lanes < 1:
        raise UserError(f"--lanes must be 1 or more, got {args.lanes}")
    _needs_jax()
    if args.lanes > 1:  # the lanes take the GPU's memory; this process, should JAX start here, takes what it uses
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    from img2music_tf.study.gpu_run import run_queue

    run_queue(Path(args.pack), Path(args.out), args.budget_s, Path(args.jax_cache), args.warm, args.lanes)
    return 0


def run_warm(args) -> int:
    _needs_jax()
    from img2music_tf.study.gpu_run import rehearse

    rehearse(Path(args.pack), args.jobs, Path(args.jax_cache), Path(args.done) if args.done else None)
    return 0


def _jobs(text: str) -> list[tuple[int, str]]:
    """`0:late,2:all` -> [(0, "late"), (2, "all")], for argparse."""
    try:
        jobs = [(int(index), part) for index, part in (job.split(":") for job in text.split(","))]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ENTRY:PART,... such as 0:late,2:all, got {text!r}") from None
    if any(part not in (LATE, ALL) or index < 0 for index, part in jobs):
        raise argparse.ArgumentTypeError(f"PART is {LATE} or {ALL} and ENTRY a queue index, got {text!r}")
    return jobs


def run_merge(args) -> int:
    from img2music_tf.study.gpu_queue import merge

    merge(Path(args.results), Path(args.out) if args.out else None, Path(args.work) if args.work else None)
    return 0
