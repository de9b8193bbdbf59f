"""`img2music reproduce ARTEFACT`: one of the paper's tables or figures, end to end (`study.artefacts.run_artefact`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from img2music_tf.commands import WEIGHTS_HELP, check_counts
from img2music_tf.experiments import ARTEFACTS, DATA_REGIMES, REPRODUCTION_SCALES, SCALES
from img2music_tf.paths import results_dir, runs_dir
from img2music_tf.presets import FIDELITIES


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce a table or figure of the paper (train, generate, score, write results/)",
        description=(
            "Reproduce one of the paper's artefacts: prepare the data once, train each of its models (finished runs "
            "are reused, interrupted ones resume), generate greedily for the test images and score the music, and "
            "write OUT/ARTEFACT.json (every piece, settings, seed, backend, device, image weights, data sources, "
            "wall time) and .md (the paper's numbers beside ours).\n\n"
            + "\n".join(f"{name}: {artefact.title}. {artefact.description}" for name, artefact in ARTEFACTS.items())
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: img2music reproduce table1 --scale smoke --seeds 1   (= make table1)",
    )
    parser.add_argument("artefact", choices=tuple(ARTEFACTS), metavar="ARTEFACT",
                        help=f"which artefact: {', '.join(ARTEFACTS)}")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="folder for ARTEFACT.json, .md and plots (default: results/DATA/ of the checkout, else of "
                             "the current directory)")
    add_settings_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from img2music_tf.study.artefacts import run_artefact  # here: --help loads no study module (tests/test_cli.py)

    out = Path(args.out) if args.out else results_dir() / args.data
    run_artefact(ARTEFACTS[args.artefact], settings_from_args(args, out))
    return 0


def add_settings_options(parser, scale: str = "smoke") -> None:
    """The options that make a reproduction's `study.artefacts.Settings` (shared with `img2music gpu pack`);
    `scale` is the default --scale."""
    smoke = SCALES["smoke"]
    parser.add_argument("--scale", choices=REPRODUCTION_SCALES, default=scale,
                        help="paper: the paper's model sizes on every training song (meant for a GPU); smoke: the "
                             f"small presets on {smoke.max_songs} training songs (minutes on a 2-core CPU); "
                             "tiny: for the tests (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="train every preset with seeds 0..N-1; with N > 1 the tables give the mean and "
                             "standard deviation across seeds (default: %(default)s)")
    parser.add_argument("--data", choices=tuple(DATA_REGIMES), default="authors",
                        help="authors: the paper's regime, the authors' 2884 published training pairs (70 distinct "
                             "songs, tokens as published; IMG2MUSIC_AUTHORS_SOURCE may name a local midiData.txt) "
                             "with Emotion6 images, 116 held-out images for test and validation; eimg: every EIMG "
                             "song (2961 distinct) paired with its nearest Emotion6 image, a harder task "
                             "(IMG2MUSIC_EIMG_SOURCE and IMG2MUSIC_EMOTION6_SOURCE may name local copies); builtin: "
                             "the built-in demo set (default: %(default)s)")
    parser.add_argument("--work", default=str(runs_dir() / "reproduce"), metavar="DIR",
                        help="folder for the prepared data, the VA predictor and the run folders, reused by later "
                             "runs and by the other artefacts (default: runs/reproduce/ of the checkout, else of the "
                             "current directory)")
    parser.add_argument("--image-weights", default=None, metavar="WEIGHTS",
                        help=f"{WEIGHTS_HELP} (default: imagenet at --scale paper, torchvision at smoke, none at "
                             "tiny)")
    parser.add_argument("--fidelity", choices=tuple(FIDELITIES), default="paper",
                        help="follow the paper or the authors' code where they differ, see docs/fidelity.md; the "
                             "music VA predictor follows it too; file-order, fc2 and script-rates are the paper with "
                             "one of the code's switches (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="replace the paper's epochs (2 for Table 1, 15 otherwise), for quick checks only")
    parser.add_argument("--max-songs", type=int, default=None, metavar="N",
                        help=f"train on N training songs (default: all at paper scale, {smoke.max_songs} at smoke "
                             "scale)")
    parser.add_argument("--test-pieces", type=int, default=None, metavar="N",
                        help="generate for the first N pieces of the test split only (default: all 100)")
    parser.add_argument("--va-predictor", default=None, metavar="DIR",
                        help="a trained music VA predictor folder (default: one trained once per fidelity on the "
                             "training split into WORK/.../va_predictor-FIDELITY)")


def settings_from_args(args, out: Path, **fields):
    """The `study.artefacts.Settings` of the options of `add_settings_options`, writing into `out`; a one-line
    UserError for a count below 1."""
    from img2music_tf.study.artefacts import Settings  # here: --help loads no study module (tests/test_cli.py)

    check_counts(**{name: getattr(args, name) for name in ("seeds", "epochs", "max_songs", "test_pieces")})
    scale = SCALES[args.scale].replace(image_weights=args.image_weights, epochs=args.epochs, max_songs=args.max_songs)
    return Settings(
        scale=scale,
        seeds=tuple(range(args.seeds)),
        data=args.data,
        out=Path(out),
        work=Path(args.work),
        fidelity=args.fidelity,
        test_pieces=args.test_pieces,
        va_predictor=Path(args.va_predictor) if args.va_predictor else None,
        **fields,
    )
