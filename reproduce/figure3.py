"""Figure 3 of the paper: total training loss per epoch, LSTM baseline vs Trans_enc3_dec3 + VA loss.

Trains LSTM_enc2 (cross-entropy only) and Trans_enc3_dec3_VA_Loss (lambda_va * L_VA + lambda_cc * L_CC)
for 15 epochs on the EIMG + Emotion6 pairs - the second reuses table2.py's run when it exists -
and plots the total loss of every epoch from the runs' history.csv, with the paper's curve
endpoints (LSTM 6.94 -> 5.83, Trans_enc3_dec3 + VA 5.82 -> 2.69) marked for comparison. Writes
results/figure3.png, results/figure3.json (the curves) and results/figure3.md.

    python reproduce/figure3.py --scale smoke --seeds 1
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from common import (
    Artefact,
    data_record,
    ensure_va_predictor,
    environment,
    image_weights_note,
    main,
    prepare_data,
    settings_record,
    shown,
    songs_line,
    train_preset,
)
from img2music_tf.files import atomic_path, write_json, write_text
from paper_numbers import FIGURE3

ARTEFACT = Artefact(
    name="figure3",
    title="Figure 3: Loss vs epoch, proposed vs baseline model",
    presets=tuple(FIGURE3),
    epochs=15,
)
LABELS = {"LSTM_enc2": "LSTM_enc2 (baseline)", "Trans_enc3_dec3_VA_Loss": "Trans_enc3_dec3 + VA loss"}
COLOURS = {"LSTM_enc2": "tab:blue", "Trans_enc3_dec3_VA_Loss": "tab:red"}


def run(settings) -> dict:
    """Train (or reuse) both runs for every seed, then write the curves, the plot and a short note."""
    from img2music_tf.train import HISTORY_FILE, read_history

    started = time.perf_counter()
    prepared = prepare_data(settings)
    va_predictor = ensure_va_predictor(settings, prepared)
    epochs = settings.epochs or ARTEFACT.epochs
    curves = {}
    for preset in ARTEFACT.presets:
        curves[preset] = []
        for seed in settings.seeds:
            run_dir = train_preset(settings, prepared, preset, epochs, seed, va_predictor)
            curves[preset].append({
                "seed": seed,
                "run": shown(run_dir),
                "run_config": json.loads((run_dir / "config.json").read_text()),
                "history": read_history(run_dir / HISTORY_FILE),
            })
    result = {
        "artefact": ARTEFACT.name,
        "title": ARTEFACT.title,
        "settings": settings_record(settings, epochs),
        "environment": environment(),
        "data": data_record(settings, prepared),
        "va_predictor": shown(va_predictor),
        "paper_endpoints": {preset: {"epoch_1": first, f"epoch_{ARTEFACT.epochs}": last}
                            for preset, (first, last) in FIGURE3.items()},
        "curves": curves,
        "missing_at_paper_scale": [] if settings.scale.name == "paper" else list(ARTEFACT.presets),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    plot(result, settings.out / f"{ARTEFACT.name}.png")
    write_json(settings.out / f"{ARTEFACT.name}.json", result)
    write_text(settings.out / f"{ARTEFACT.name}.md", render_markdown(result))
    print(f"wrote {settings.out / ARTEFACT.name}.png, .json and .md in {result['wall_seconds']:.0f} s")
    return result


def loss_matrix(runs: list[dict], column: str) -> np.ndarray:
    """(seeds, epochs) of one history column; NaN where a value is missing."""
    return np.array([[np.nan if row[column] is None else row[column] for row in r["history"]] for r in runs], float)


def plot(result: dict, target: Path) -> Path:
    """Training (solid) and validation (dashed) total loss per epoch; the paper's endpoints as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    for preset, runs in result["curves"].items():
        colour, label = COLOURS[preset], LABELS[preset]
        for column, style, suffix in (("loss", "-", "train"), ("val_loss", "--", "validation")):
            losses = loss_matrix(runs, column)  # (S, E)
            epochs = np.arange(1, losses.shape[1] + 1)
            if len(runs) > 1:
                axes.fill_between(epochs, losses.min(axis=0), losses.max(axis=0), color=colour, alpha=0.15)
            axes.plot(epochs, losses.mean(axis=0), style, color=colour, marker="o", markersize=3,
                      label=f"{label}, ours ({suffix})")
        first, last = FIGURE3[preset]
        axes.plot([1, ARTEFACT.epochs], [first, last], ":", color=colour, marker="x", markersize=9,
                  label=f"{label}, paper ({first} -> {last}, endpoints only)")
    settings = result["settings"]
    axes.set_xlabel("epoch")
    axes.set_ylabel("total loss (cross-entropy + lambda_va * VA loss)")
    axes.set_title(f"{ARTEFACT.title}\n{settings['scale']} scale, image weights '{settings['image_weights']}', "
                   f"seeds {settings['seeds']}", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)
    return target


def render_markdown(result: dict) -> str:
    """First and last total loss of each curve beside the paper's, and how they were made."""
    settings, env, data = result["settings"], result["environment"], result["data"]
    lines = [
        f"# {result['title']}",
        "",
        image_weights_note(settings["image_weights"]),
        "",
        f"![Figure 3]({ARTEFACT.name}.png)",
        "",
        f"Scale `{settings['scale']}`, {settings['epochs']} epoch(s), seeds {settings['seeds']}; trained on "
        f"{songs_line(data, [r['run_config'] for runs in result['curves'].values() for r in runs])}. {env['backend']} "
        f"{env['backend_version']} on {env['device']}; wall time {result['wall_seconds']:.0f} s (finished runs "
        "are reused, e.g. table2.py's Trans_enc3_dec3_VA_Loss run). The VA term enters the total with "
        "lambda_va, so the proposed model's curve is almost all cross-entropy.",
        "",
        "| Model | Source | Total loss, epoch 1 | Total loss, last epoch | Validation loss, last epoch |",
        "|---|---|---|---|---|",
    ]
    for preset, runs in result["curves"].items():
        first, last = FIGURE3[preset]
        lines.append(f"| {LABELS[preset]} | paper | {first:.2f} | {last:.2f} (epoch {ARTEFACT.epochs}) | |")
        train, val = loss_matrix(runs, "loss"), loss_matrix(runs, "val_loss")  # (S, E)
        lines.append(f"| {LABELS[preset]} | ours, {settings['scale']} (mean of {len(runs)} seed(s)) | "
                     f"{train[:, 0].mean():.2f} | {train[:, -1].mean():.2f} (epoch {train.shape[1]}) | "
                     f"{val[:, -1].mean():.2f} |")
    if result["missing_at_paper_scale"]:
        lines += ["", f"**Missing at paper scale:** both curves ({', '.join(result['missing_at_paper_scale'])}) - "
                  "no GPU was available in this session; run `make figure3 SCALE=paper` on a GPU."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(ARTEFACT, __doc__, run))
