"""`img2music data prepare`: load a music and an image source, pair them by emotion, split, write plain files."""

from __future__ import annotations

import argparse
import time

from img2music_tf.commands import check_counts
from img2music_tf.paths import BUILTIN_ITEMS, SOURCES, source_names

from img2music_tf.commands import SEED


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="prepare the paired image-music data (sources, emotion pairing, split)",
        description="Data sources, emotion pairing and the train/val/test split (paper Section 3.1).",
    )
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    prepare = commands.add_parser(
        "prepare",
        help="load music and images, pair each music piece with its most similar image, split, write files",
        description=(
            "Pair each music piece with the image nearest in valence-arousal (paper Section 3.1), split the "
            "pairs 100 test / 16 val / rest train, and write music.csv, images.csv, pairs.csv, split.json, "
            "skipped.csv, summary.txt and va.png into --out. A rerun with the same inputs reuses the folder. "
            "Sources: " + "; ".join(
                f"{source.name}: {source.description}"
                + (f" (local copy: {'/'.join(f'--{kind}-source' for kind in source.kinds)} or ${source.env_var})"
                   if source.env_var else "")
                for source in SOURCES.values()
            ) + "."
        ),
    )
    prepare.add_argument("--music", choices=source_names("music"), default="eimg", help="music source (default: eimg)")
    prepare.add_argument("--images", choices=source_names("image"), default="emotion6",
                         help="image source (default: emotion6)")
    prepare.add_argument("--out", required=True, help="output folder")
    prepare.add_argument("--music-source", help="local copy of the music source (file or folder) instead of a download")
    prepare.add_argument("--image-source", help="local copy of the image source (file or folder) instead of a download")
    prepare.add_argument("--seed", type=SEED, default=0, help="seed of the random split (default: 0)")
    prepare.add_argument("--n-test", type=int, default=100, help="test pairs (default: 100)")
    prepare.add_argument("--n-val", type=int, default=16, help="validation pairs (default: 16)")
    prepare.add_argument("--n-music", type=int, metavar="N", help="use only N music items, spread evenly over the ids "
                         f"(default: all; builtin, which builds N: {BUILTIN_ITEMS})")
    prepare.add_argument("--n-images", type=int, metavar="N", help="use only N images, spread evenly over the ids "
                         f"(default: all; builtin, which builds N: {BUILTIN_ITEMS})")
    prepare.add_argument("--force", action="store_true", help="redo a folder that was prepared from other inputs")
    prepare.set_defaults(run=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.data.download import DownloadError
    from img2music_tf.data.prepare import prepare

    check_counts(n_music=args.n_music, n_images=args.n_images)  # load_source would quietly keep one item
    start = time.perf_counter()
    try:
        data = prepare(
            music=args.music, images=args.images, out=args.out,
            music_source=args.music_source, image_source=args.image_source, seed=args.seed,
            n_test=args.n_test, n_val=args.n_val, n_music=args.n_music, n_images=args.n_images, overwrite=args.force,
        )
    except DownloadError as error:  # name the option whose local copy replaces this download, if one does
        options = {SOURCES[args.images].env_var: "--image-source", SOURCES[args.music].env_var: "--music-source"}
        option = options.get(error.env_var) if error.env_var else None
        raise error.naming(option) if option else error from None
    if data.reused:
        print(f"{args.out} was already prepared from these inputs; reusing it")
    print(data.summary, end="")
    print(f"time: {time.perf_counter() - start:.1f} s")
    return 0
