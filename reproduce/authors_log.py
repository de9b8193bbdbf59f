"""The authors' training log, every run, beside our training curves.

The authors' repository ships `Loss_Trans_enc3_dec3_VA_loss.txt`, the Keras output of 9 training runs
(`paper_numbers.AUTHORS_LOG`: each epoch's loss from Keras' "Epoch N: loss improved from A to B" lines; the
progress-bar numbers are averaged twice and used nowhere). This script draws all of them, labelled with
their heading in the log, the model and the learning rate their script compiles it with, and beside them our
runs of the same models as the committed results hold them (results/**/figure3.json and table*.json, whatever
they hold when this runs). Writes results/authors_log.md, .json and .png.

    python reproduce/authors_log.py      # or: make authors-log; a few seconds; expected: the authors'
                                         # Trans_enc3_dec3 + VA 5.819 -> 2.688, their LSTM 6.943 -> 5.831
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.paths import results_dir


def main() -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=results_dir(), help="where our results' JSON lie")
    parser.add_argument("--out", type=Path, default=results_dir())
    args = parser.parse_args()

    from img2music_tf.files import write_json, write_text
    from img2music_tf.paper_numbers import AUTHORS_LOG

    result = {"authors": [dataclasses.asdict(run) for run in AUTHORS_LOG], "ours": our_curves(args.results)}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "authors_log.json", result)
    write_text(args.out / "authors_log.md", markdown(result))
    plot(result, args.out / "authors_log.png")
    print(f"wrote {args.out / 'authors_log.md'}")
    return 0


def our_curves(results: Path) -> list[dict]:
    """Each distinct training run in our committed results: where it is shown, its model, scale, fidelity,
    learning rate and training loss per epoch (the longest history any result holds for it)."""
    runs: dict[str, dict] = {}
    for path in sorted([*results.glob("**/figure3.json"), *results.glob("**/table*.json")]):
        table = json.loads(path.read_text(encoding="utf-8"))
        settings = table.get("settings", {})
        seeds = {**{preset: row.get("seeds", []) for preset, row in table.get("rows", {}).items()},
                 **table.get("curves", {})}
        for preset, entries in seeds.items():
            for entry in entries:
                model = entry["run_config"]["model"]
                losses = [row["loss"] for row in entry["history"]]
                known = runs.get(entry["run"])
                if known is None or len(losses) > len(known["losses"]):
                    runs[entry["run"]] = {
                        "shown_in": str(path.relative_to(results).parent), "model": model["name"],
                        "scale": settings.get("scale"), "fidelity": model["fidelity"], "seed": entry["seed"],
                        "learning_rate": model["learning_rate"], "losses": losses}
    return sorted(runs.values(), key=lambda run: (run["shown_in"], run["model"], run["seed"]))


def _losses(values: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


def markdown(result: dict) -> str:
    lines = [
        "# The authors' training log beside our curves",
        "",
        "`python reproduce/authors_log.py` (`make authors-log`). The authors' numbers are Keras' loss of each epoch, "
        "read from the \"Epoch N: loss improved from A to B\" lines of `Loss_Trans_enc3_dec3_VA_loss.txt` in their "
        "repository (`paper_numbers.AUTHORS_LOG`, tested against the file). The progress-bar numbers in that log "
        "(e.g. 6.19 at the end of the epoch whose loss is 5.77) are running means averaged again, and are used "
        "nowhere. The paper's Figure 3 draws two of these runs (LSTM_enc2_15 epochs, trans enc3 dec3 VA loss).",
        "",
        "## The authors' runs, in the log's order",
        "",
        "| heading in the log | model | learning rate | epochs | loss per epoch | note |",
        "|---|---|---|---|---|---|",
    ]
    for run in result["authors"]:
        lines.append(f"| {run['heading']} | {run['model']} | {run['learning_rate']:g} | {len(run['losses'])} | "
                     f"{_losses(run['losses'])} | {run['note']} |")
    lines += [
        "",
        "## Ours beside theirs",
        "",
        "Each of our training runs in the committed results, with the authors' longest run of the same model. "
        "Compare like with like: the authors' LSTM is their 3-LSTM model at 1e-6 (`--fidelity code`), ours at "
        "`paper` fidelity is Mendis' 2 LSTMs at 1e-5; smoke scale is a smaller model on 100 training pairs at 1e-3, "
        "so its losses are not the paper's.",
        "",
        "| shown in | model | scale | fidelity | learning rate | seed | our loss per epoch | authors' (same model) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in result["ours"]:
        theirs = authors_run(result, run["model"])
        lines.append(f"| {run['shown_in']} | {run['model']} | {run['scale']} | {run['fidelity']} | "
                     f"{run['learning_rate']:g} | {run['seed']} | {_losses(run['losses'])} | "
                     + (f"{theirs['heading']}, lr {theirs['learning_rate']:g}: {_losses(theirs['losses'][:len(run['losses'])])}"
                        if theirs else "not logged") + " |")
    lines += ["", "![the authors' logged runs and ours](authors_log.png)", ""]
    return "\n".join(lines)


def authors_run(result: dict, model: str) -> dict | None:
    """The authors' longest logged run of `model` (the VGG row of Table 1 is their Trans_enc3_dec3)."""
    aliases = {"Trans_enc3_dec3_VGG": ("Trans_enc3_dec3_VGG", "Trans_enc3_dec3")}
    runs = [run for run in result["authors"] if run["model"] in aliases.get(model, (model,))]
    return max(runs, key=lambda run: len(run["losses"])) if runs else None


def plot(result: dict, target: Path) -> Path:
    """Left: all of the authors' runs. Right: our paper-scale runs (solid) over the authors' same models (dotted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from img2music_tf.study.report import save_plot

    figure, (theirs, ours) = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    colours = {}
    for run in result["authors"]:
        colour = colours.setdefault(run["model"], f"C{len(colours)}")
        epochs = range(1, len(run["losses"]) + 1)
        theirs.plot(epochs, run["losses"], ":" if len(run["losses"]) < 3 else "-", color=colour, marker="x",
                    markersize=4, label=f"{run['heading']} ({run['model']}, lr {run['learning_rate']:g})")
    theirs.set_title("the authors' log: every run, Keras' loss per epoch", fontsize=9)
    theirs.set_xlabel("epoch")
    theirs.set_ylabel("training loss")
    for run in result["ours"]:
        if run["scale"] != "paper":
            continue
        colour = colours.setdefault(run["model"], f"C{len(colours)}")
        ours.plot(range(1, len(run["losses"]) + 1), run["losses"], "-", color=colour, marker="o", markersize=3,
                  label=f"ours: {run['model']} ({run['fidelity']} fidelity, lr {run['learning_rate']:g}, seed {run['seed']})")
        logged = authors_run(result, run["model"])
        if logged:
            ours.plot(range(1, len(logged["losses"]) + 1), logged["losses"], ":", color=colour, marker="x",
                      markersize=4, label=f"authors: {logged['heading']} (lr {logged['learning_rate']:g})")
    ours.set_title("ours at paper scale (solid) over the authors' run of the same model (dotted)", fontsize=9)
    ours.set_xlabel("epoch")
    ours.grid(alpha=0.3)
    ours.legend(fontsize=7)
    return save_plot(figure, theirs, target)


if __name__ == "__main__":
    sys.exit(run_reporting(main))
