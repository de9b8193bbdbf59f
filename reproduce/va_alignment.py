"""Emotion alignment (not in the paper): does a VA term, or conditioning on VA, make the music match the picture?

Trains Trans_enc3_dec3 without a VA term (= the paper's term: bit-identical weights), with the differentiable
term at 3 weights lambda, and the two VA-conditioned presets (Trans_enc3_dec3_VA_Cond, _NoImage; asked for each
test image's rated VA), 3 seeds, in both data regimes (authors, eimg); decodes the 100 test images greedily and
by seeded top-10 sampling; rates the music with a held-out judge (`img2music_tf/study/alignment.py`). Writes
results/va_alignment.json, .md and .png. About 100 minutes on a 2-core CPU at the default scale `align`; `make va-alignment` (`--lambdas 1 --seeds 0 1`) about an hour.

    python reproduce/va_alignment.py                                   # make va-alignment
    python reproduce/va_alignment.py --scale tiny --data builtin --seeds 0 --lambdas 1   # a minute
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.experiments import SCALES
from img2music_tf.paths import results_dir, runs_dir


def main(argv: list[str] | None = None) -> int:
    from img2music_tf.study.alignment import (BASELINE, CONDITIONED, SOFT, Measurement, Model, markdown, measure,
                                              plot)
    from img2music_tf.experiments import DATA_REGIMES
    from img2music_tf.errors import UserError
    from img2music_tf.files import write_json, write_text

    defaults = Measurement()
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default=defaults.scale, choices=tuple(SCALES),
                        help=f"experiments.SCALES name (default {defaults.scale})")
    parser.add_argument("--data", nargs="+", default=list(defaults.data), choices=list(DATA_REGIMES),
                        help="data regimes (default authors eimg)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(defaults.seeds))
    parser.add_argument("--lambdas", nargs="+", type=float,
                        default=[model.lambda_va for model in defaults.models if model.lambda_va],
                        help="weights of the differentiable VA term (default 0.1 1 10)")
    parser.add_argument("--conditioned", nargs="*", default=list(CONDITIONED), choices=list(CONDITIONED),
                        help="VA-conditioned presets measured beside (default: both; none: give the flag alone)")
    parser.add_argument("--work", type=Path, default=runs_dir() / "va_alignment")
    parser.add_argument("--out", type=Path, default=results_dir())
    args = parser.parse_args(argv)

    measurement = Measurement(scale=args.scale, data=tuple(args.data), seeds=tuple(args.seeds),
                              models=(Model(BASELINE), *(Model(SOFT, value) for value in args.lambdas),
                                      *(Model(preset) for preset in args.conditioned)))
    try:
        result = measure(measurement, args.work)
    except UserError as error:  # e.g. a work folder prepared from other data: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = "python reproduce/va_alignment.py " + shlex.join(
        [*(["--scale", args.scale] if args.scale != defaults.scale else []), "--data", *args.data,
         "--seeds", *map(str, args.seeds), "--lambdas", *(f"{value:g}" for value in args.lambdas),
         *(["--conditioned", *args.conditioned] if args.conditioned != list(CONDITIONED) else [])])
    write_json(args.out / "va_alignment.json", result)
    write_text(args.out / "va_alignment.md", markdown(result, command))
    plot(result, args.out / "va_alignment.png")
    print(f"wrote {args.out / 'va_alignment'}.json, .md, .png in {result['wall_seconds'] / 60:.0f} min")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting(main))
