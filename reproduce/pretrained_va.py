"""The small music VA predictor shipped in the package (`make pretrained-va`): every piece `img2music generate`
makes gets a predicted valence and arousal, even with the shipped model, whose paper-size predictor (Wang et
al.'s 1024-512 MLP, about 30 MB with its optimiser state) is too big to ship.

Trained on the prepared EIMG training music of the shipped model (`make pretrained` prepares it) with the demo
scale's predictor (64-32 hidden units, no BatchNorm), then copied into img2music_tf/pretrained_va/; its test
error beside always guessing the training mean goes to results/pretrained_va.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.paths import results_dir, runs_dir, shown

WORK = runs_dir() / "pretrained"


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=WORK / "data", help="the prepared data (make pretrained)")
    parser.add_argument("--work", type=Path, default=WORK / "va_predictor-small", help="where it is trained")
    parser.add_argument("--out", type=Path, default=results_dir())
    return ship(parser.parse_args(argv))  # a UserError: one line, exit 2 (cli.run_reporting, below)


def ship(args) -> int:
    from img2music_tf.data.prepare import load_prepared
    from img2music_tf.experiments import SCALES
    from img2music_tf.files import staged_files, write_json, write_text
    from img2music_tf.models.va_predictor import CONFIG_FILE, METRICS_FILE, MODEL_FILE
    from img2music_tf.pretrained import VA_PREDICTOR_FOLDER
    from img2music_tf.study.pipeline import train_va_predictor

    scale = SCALES["demo"]
    folder = train_va_predictor(load_prepared(args.data), args.work, scale, scale.va_batchnorm, reuse=False)
    VA_PREDICTOR_FOLDER.mkdir(exist_ok=True)
    with staged_files(VA_PREDICTOR_FOLDER, last=CONFIG_FILE) as staging:  # never half a predictor shipped
        for name in (MODEL_FILE, METRICS_FILE, CONFIG_FILE):
            shutil.copyfile(folder / name, staging / name)
    import json

    metrics = json.loads((VA_PREDICTOR_FOLDER / METRICS_FILE).read_text())
    result = {"data": shown(args.data), "hidden_units": list(scale.va_hidden_units), "batchnorm": scale.va_batchnorm,
              "size_bytes": (VA_PREDICTOR_FOLDER / MODEL_FILE).stat().st_size, "test": metrics["test"],
              "test_always_the_training_mean": metrics["baseline_train_mean"]["test"],
              "best_epoch": metrics["training"]["best_epoch"]}
    write_json(args.out / "pretrained_va.json", result)
    write_text(args.out / "pretrained_va.md", markdown(result))
    print(f"shipped {VA_PREDICTOR_FOLDER}; wrote {args.out / 'pretrained_va.md'}")
    return 0


def markdown(result: dict) -> str:
    test, mean = result["test"], result["test_always_the_training_mean"]

    def r(dim: str) -> str:
        value = test[dim].get("pearson_r")
        return "-" if value is None else f"{value:.2f}"

    return "\n".join([
        "# The music VA predictor shipped in the package",
        "",
        f"Wang et al.'s MLP made small ({'-'.join(map(str, result['hidden_units']))} hidden units, "
        f"{'with' if result['batchnorm'] else 'no'} BatchNorm; {result['size_bytes'] / 1e6:.1f} MB), trained on the "
        f"prepared EIMG training music of the shipped model (`{result['data']}`, best epoch {result['best_epoch']}). "
        "`img2music generate` prints every piece's valence and arousal with it when the run names no predictor. "
        "Made by `make pretrained-va`.",
        "",
        "| on the EIMG test music (n {}) | valence | arousal | mean |".format(test["n"]),
        "|---|---|---|---|",
        f"| mean absolute error | {test['valence']['mae']:.2f} | {test['arousal']['mae']:.2f} | {test['mae_mean']:.2f} |",
        f"| always the training mean | {mean['valence']['mae']:.2f} | {mean['arousal']['mae']:.2f} | "
        f"{mean['mae_mean']:.2f} |",
        f"| Pearson r | {r('valence')} | {r('arousal')} | |",
        "",
        "On generated music it can extrapolate beyond 1-9 (marked `*`): read its figures as a rough guide.",
        "",
    ])


if __name__ == "__main__":
    sys.exit(run_reporting(main))
