"""The `img2music` command: one subcommand per module in `img2music_tf.commands`.

Each command module defines `add_parser(subparsers)` that registers its
subcommand and sets `run=` (a function of the parsed args) as a default. Heavy
imports (TensorFlow, music21) happen inside `run`, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from img2music_tf import __version__, commands
from img2music_tf.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="img2music",
        description=(
            "Emotion-guided image-to-music generation (Kundu, Singh, Iwahori). "
            "Prepare data, tokenise MIDI, train the models of the paper's tables, "
            "and generate MIDI/WAV/piano-roll music from pictures."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off stderr
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except UserError as error:
        print(f"img2music: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("img2music: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
