"""The `img2music` command: one subcommand per module in `img2music_tf.commands`.

Each command module defines `add_parser(subparsers)` that registers its
subcommand and sets `run=` (a function of the parsed args) as a default. A command
module imports at its top only the command layer and the configs (`experiments`,
`presets`, `paths`, `models.architecture`); the method and the study are imported
inside `run`, so `--help` loads at most 20 of the package's modules and no Keras
(tests/test_cli.py).
TensorFlow's start-up lines stay off stderr unless $IMG2MUSIC_VERBOSE is set
(`quiet_tensorflow`).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.abc
import importlib.util
import os
import pkgutil
import re
import signal
import sys
import tempfile

from img2music_tf import __version__, commands, interrupts
from img2music_tf.errors import UserError

VERBOSE_VARIABLE = "IMG2MUSIC_VERBOSE"
# What the machine, not the code, refuses: said in one line like a UserError (any other OSError is a bug to see)
USER_OS_ERRORS = {errno.ENAMETOOLONG, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
# What importing TensorFlow writes to stderr before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot hold it
STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} .*\] (oneDNN custom operations are on|Could not find cuda drivers|This TensorFlow binary is optimized)"
    r"|To enable the following instructions: "
)


def quiet_tensorflow() -> None:
    """Unless $IMG2MUSIC_VERBOSE is set (and not 0): TF_CPP_MIN_LOG_LEVEL=3 where unset (TensorFlow's C++ log
    keeps fatal errors only; this hides the `cuInit` error of a machine without a GPU), and TensorFlow is
    imported through `_QuietImport`. A no-op once TensorFlow is imported."""
    if os.environ.get(VERBOSE_VARIABLE, "0") not in ("", "0") or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not any(isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


class _QuietImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `tensorflow` with file descriptor 2 sent to a file, then writes to stderr the lines that are
    not `STARTUP_NOISE` (so any other message, and a failed import's, still shows)."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            self.loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self.loader
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                lines = captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                sys.stderr.write("".join(line for line in lines if not STARTUP_NOISE.match(line)))
                sys.stderr.flush()


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in the commands' form: one line, `img2music: error: ...`, exit 2 (argparse
    prints its usage first; the line names the command's --help instead). Subparsers inherit the class."""

    def error(self, message):
        self.exit(2, f"img2music: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    quiet_tensorflow()  # before parsing, so that no argument's type can let TensorFlow's start-up lines through

    def command() -> int | None:
        args = build_parser().parse_args(argv)
        return args.run(args)

    return run_reporting(command)


def run_reporting(function) -> int:
    """Run `function()` (a command, or a reproduce/ script's main) with the commands' conventions: a UserError or
    what the machine refuses (a full disk, a name too long) is one line `img2music: error: ...` and exit 2;
    SIGINT / SIGTERM end it with 130 / 143 after its clean-up; anything else is a bug and keeps its traceback."""
    try:
        with interrupts.handled():
            status = function() or 0
            interrupts.check()  # a signal Python swallowed in a callback still ends the command as interrupted
        return status
    except UserError as error:
        print(f"img2music: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in USER_OS_ERRORS:
            raise
        where = "" if error.filename is None else f": {error.filename}"
        print(f"img2music: error: {error.strerror}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:
        stopped = error if isinstance(error, interrupts.Interrupted) else interrupts.Interrupted(signal.SIGINT)
        print(f"img2music: interrupted ({stopped}); nothing half-written is left", file=sys.stderr)
        return stopped.exit_status


if __name__ == "__main__":
    sys.exit(main())
