"""What moves when a VA-conditioned net is asked for another emotion (not in the paper; `study/steering.py`).

Reads the VA-conditioned runs that `make va-alignment` trained (seed 0 of Trans_enc3_dec3_VA_Cond and
_NoImage, in each data regime) and its held-out judge; decodes the first --pictures distinct test pictures
four times by seeded top-10 sampling, asked for each quadrant of the VA plane (only the asked VA changes), and
reports per quadrant the judged VA, tempo, register, density, share in a minor key and pitch entropy, and how
the judged VA follows the asked one. Writes results/va_steering.json, .md and one piano-roll figure per run
(results/va_steering-DATA-PRESET.png). A few minutes on a 2-core CPU.

    python reproduce/va_steering.py                     # make va-steering, after make va-alignment
    python reproduce/va_steering.py --data eimg --pictures 8
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.paths import results_dir, runs_dir


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from img2music_tf.errors import UserError
    from img2music_tf.experiments import DATA_REGIMES, SCALES
    from img2music_tf.files import write_json, write_text
    from img2music_tf.models.va_predictor import VAPredictor
    from img2music_tf.run_folder import is_finished
    from img2music_tf.study.alignment import CONDITIONED, DECODINGS, Measurement, Model, regime_context, run_folder
    from img2music_tf.study.report import image_weights_note
    from img2music_tf.study.steering import markdown_rows, plot_rolls, steer

    defaults = Measurement()
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default=defaults.scale, choices=tuple(SCALES),
                        help=f"the scale va-alignment trained at (default {defaults.scale})")
    parser.add_argument("--data", nargs="+", default=list(defaults.data), choices=list(DATA_REGIMES),
                        help="data regimes (default authors eimg)")
    parser.add_argument("--presets", nargs="+", default=list(CONDITIONED), choices=list(CONDITIONED),
                        help="the VA-conditioned presets (default: both)")
    parser.add_argument("--seed", type=int, default=defaults.seeds[0], help="which seed's runs (default 0)")
    parser.add_argument("--pictures", type=int, default=40, help="distinct test pictures decoded (default 40)")
    parser.add_argument("--work", type=Path, default=runs_dir() / "va_alignment",
                        help="va-alignment's work folder (default runs/va_alignment)")
    parser.add_argument("--out", type=Path, default=results_dir())
    args = parser.parse_args(argv)
    if args.pictures < 1:
        raise UserError("--pictures must be at least 1")

    measurement = Measurement(scale=args.scale, data=tuple(args.data), seeds=(args.seed,))
    generation = {**DECODINGS["top-10 sampling"], "seed": args.seed}
    results = {}
    for data in args.data:
        context, judge_dir = regime_context(data, measurement, args.work)
        runs = {preset: run_folder(context, Model(preset), args.seed) for preset in args.presets}
        missing = [str(folder) for folder in runs.values() if not is_finished(folder)]
        if missing:
            raise UserError(f"no finished VA-conditioned run in {', '.join(missing)}: run `make va-alignment` "
                            "(or reproduce/va_alignment.py with the same --work and --scale) first")
        test = context.prepared.pairs_in("test")
        images = list(dict(sorted({pair.image.id: pair.image for pair in test}.items())).values())[: args.pictures]
        picture_va = np.array([[image.valence, image.arousal] for image in images])  # (I, 2)
        judge = VAPredictor.load(judge_dir)
        for preset, folder in runs.items():
            result = steer(folder, [image.path for image in images], picture_va, judge, generation)
            results[f"{data}/{preset}"] = result
            plot_rolls(result, args.out / f"va_steering-{data}-{preset}.png")
            print(f"{data} {preset}: r valence {result['valence_r']:.2f}, r arousal {result['arousal_r']:.2f}",
                  flush=True)

    command = "python reproduce/va_steering.py " + shlex.join(
        ["--data", *args.data, "--presets", *args.presets, "--pictures", str(args.pictures), "--seed", str(args.seed)])
    write_json(args.out / "va_steering.json", results)
    lines = ["# What moves when a VA-conditioned net is asked for another emotion (not in the paper)", "",
             f"The seed-{args.seed} runs of `make va-alignment` (scale `{args.scale}`), the first {args.pictures} "
             "distinct test pictures of each regime, each decoded four times by seeded top-10 sampling (one try) "
             "with the same picture and random stream, asked for the VA of each quadrant: only the asked VA "
             "changes. Judged VA: the alignment's held-out judge. Means with 95% t intervals over the pictures; "
             "minor key: music21's key estimate. r: Pearson correlation of asked and judged VA over all pieces. "
             + image_weights_note(SCALES[args.scale].image_weights), "", f"Command: `{command}`."]
    for key, result in results.items():
        lines += ["", f"## {key}", "",
                  f"r(asked, judged): valence {result['valence_r']:.2f}, arousal {result['arousal_r']:.2f}.", "",
                  *markdown_rows(result), "",
                  f"![piano rolls](va_steering-{key.replace('/', '-')}.png)"]
    write_text(args.out / "va_steering.md", "\n".join(lines) + "\n")
    print(f"wrote {args.out / 'va_steering'}.json, .md and {len(results)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting(main))
