"""What a Music_Quality_Loss number measures: the metric on repeated tokens, loops, real songs and our tables' pieces.

Music_Quality_Loss (Section 4.1) is the sum of the relative errors of three muspy metrics against the EIMG
means. This script scores, with the tables' own code (`metrics.token_metrics`, equal to writing the MIDI file
and reading it back):

- every sounding token of the authors' vocabulary (midiData.txt) repeated 234 times, grouped by how many
  pitches it plays: none scores below 1.24; one pitch 2.007, a dyad 1.757, a triad about 1.50;
- hand-made loops, e.g. `0.3.6.9@1.75 r@0.75` repeated (0.83, close to the paper's best row, 0.8216);
- the authors' 70 distinct training songs, each on its own and as a set;
- the pieces of every committed table (results/**/table*.json, whatever they hold when this runs), grouped by
  loop type (`loops.loop_type`).

Writes results/metric_anatomy.md, .json and .png.

    python reproduce/metric_anatomy.py      # or: make metric-anatomy; about 5-8 min on 2 busy CPU cores
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.paths import results_dir

REPEATS = 234  # the longest greedy piece: max_len 236 less <start> and <end>
LOOPS = {  # label: (events, times repeated)
    "one pitch `C4@1.0`": (["C4@1.0"], 234),
    "two pitches alternating `C4@1.0 E4@1.0`": (["C4@1.0", "E4@1.0"], 117),
    "dyad `0.4@1.0`": (["0.4@1.0"], 234),
    "triad `0.4.7@1.0`": (["0.4.7@1.0"], 234),
    "four-note chord `0.4.7.10@1.0`": (["0.4.7.10@1.0"], 234),
    "triad with a rest `0.4.7@0.25 r@0.75`": (["0.4.7@0.25", "r@0.75"], 117),
    "four-note chord with a rest `0.3.6.9@1.75 r@0.75`": (["0.3.6.9@1.75", "r@0.75"], 117),
}


def main() -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors", type=Path, default=None,
                        help="the authors' midiData.txt or its folder (default: $IMG2MUSIC_AUTHORS_SOURCE or a download)")
    parser.add_argument("--results", type=Path, default=results_dir(), help="where the tables' JSON lie")
    parser.add_argument("--out", type=Path, default=results_dir())
    args = parser.parse_args()

    from img2music_tf.data import authors
    from img2music_tf.errors import UserError
    from img2music_tf.files import write_json, write_text

    started = time.perf_counter()
    try:
        pairs = authors.load(args.authors).pairs
        result = {
            "repeated_tokens": repeated_tokens(sorted({t for song in pairs.values() for t in song})),
            "loops": {label: scored(["<start>", *events * times, "<end>"]) for label, (events, times) in LOOPS.items()},
            "training_songs": training_songs(authors.distinct_songs(pairs)),
            "tables": tables(args.results),
            "shipped_model": shipped_model(args.results / "pretrained.json"),
        }
    except UserError as error:
        print(f"metric_anatomy.py: error: {error}", file=sys.stderr)
        return 2
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "metric_anatomy.json", result)
    write_text(args.out / "metric_anatomy.md", markdown(result))
    plot(result, args.out / "metric_anatomy.png")
    print(f"wrote {args.out / 'metric_anatomy.md'} ({result['seconds']} s)")
    return 0


def scored(tokens: list[str]) -> dict:
    """The three metrics, the quality loss and the loop type of one token sequence."""
    from img2music_tf.loops import loop_type
    from img2music_tf.metrics import music_quality_loss, token_metrics

    values = token_metrics(tokens)
    return {**values, "music_quality_loss": music_quality_loss(values), "loop_type": loop_type(tokens)}


def repeated_tokens(vocabulary: list[str]) -> dict:
    """Each sounding token repeated `REPEATS` times, grouped by the number of pitches it plays."""
    from img2music_tf.loops import sounding_sets

    groups: dict[int, list[tuple[str, dict]]] = defaultdict(list)
    for token in vocabulary:
        (pitches,) = sounding_sets([token]) or [None]
        if pitches is not None:
            groups[len(pitches)].append((token, scored(["<start>", *[token] * REPEATS, "<end>"])))
    summary = {}
    for size, scores in sorted(groups.items()):
        losses = np.array([s["music_quality_loss"] for _, s in scores])
        best = min(scores, key=lambda item: item[1]["music_quality_loss"])
        summary[str(size)] = {
            "tokens": len(scores), "min": float(losses.min()), "median": float(np.median(losses)),
            "max": float(losses.max()), "best_token": best[0], "best": best[1],
            "losses": losses.round(4).tolist(),
        }
    return summary


def training_songs(songs) -> dict:
    """The authors' distinct training songs: each one's score, and the loss of the set's mean metrics."""
    from img2music_tf.metrics import METRIC_NAMES, music_quality_loss

    scores = [scored(list(song.tokens)) for song in songs]
    means = [float(np.nanmean([s[name] for s in scores])) for name in METRIC_NAMES]
    losses = np.array([s["music_quality_loss"] for s in scores])
    return {
        "songs": len(scores), "pairs": sum(len(song.pair_ids) for song in songs),
        "mean_metrics": dict(zip(METRIC_NAMES, means)), "music_quality_loss_of_means": music_quality_loss(means),
        "per_song": {"min": float(np.nanmin(losses)), "median": float(np.nanmedian(losses)),
                     "max": float(np.nanmax(losses))},
        "loop_types": count(s["loop_type"] for s in scores),
        "losses": losses.round(4).tolist(),
    }


def count(values) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    return dict(sorted(counts.items()))


def tables(results: Path) -> dict:
    """Every committed table's rows: per row, its pieces grouped by loop type, with the loss of each group's
    mean metrics (where defined) beside the row's own."""
    import json

    found = {}
    for path in sorted(results.glob("**/table*.json")):
        table = json.loads(path.read_text(encoding="utf-8"))
        rows = {}
        for preset, row in table.get("rows", {}).items():
            for seed in row.get("seeds", []):
                rows[f"{preset} (seed {seed['seed']}, epoch {seed['epoch']})"] = {
                    "music_quality_loss": seed["aggregate"]["all"]["music_quality_loss"],
                    "groups": by_loop_type(seed.get("pieces", [])),
                }
        found[str(path.relative_to(results))] = {"settings": {k: table.get("settings", {}).get(k) for k in
                                                             ("data", "scale", "fidelity", "image_weights")},
                                                "rows": rows}
    return found


def shipped_model(path: Path) -> dict | None:
    """The shipped model's pieces for the 82 test images (results/pretrained.json, `make pretrained-measure`),
    per decoding, grouped by loop type as the tables' rows are; None before that file holds them."""
    import json

    if not path.is_file():
        return None
    decodings = json.loads(path.read_text(encoding="utf-8")).get("decoding", {})
    found = {}
    for label, row in decodings.items():
        if row.get("piece_tokens"):
            found[label] = {"music_quality_loss": row["metrics"]["music_quality_loss"],
                            "groups": by_loop_type(row["piece_tokens"])}
    return found or None


def by_loop_type(pieces: list[dict]) -> dict:
    """Pieces ({"tokens": "...", "metrics": {...}}) grouped by `loops.loop_type`: per type present, its summary."""
    from img2music_tf.loops import LOOP_TYPES, loop_type
    from img2music_tf.metrics import METRIC_NAMES

    groups: dict[str, list[list[float]]] = defaultdict(list)
    for piece in pieces:
        groups[loop_type(piece["tokens"].split())].append([piece["metrics"][n] for n in METRIC_NAMES])
    return {kind: group_summary(groups[kind]) for kind in LOOP_TYPES if groups[kind]}


def group_summary(table: list[list[float]]) -> dict:
    from img2music_tf.metrics import METRIC_NAMES, music_quality_loss

    values = np.array(table, float)  # (N, 3)
    with np.errstate(all="ignore"):
        means = [float(np.nanmean(column)) if not np.isnan(column).all() else math.nan for column in values.T]
    return {"pieces": len(values), **dict(zip(METRIC_NAMES, means)), "music_quality_loss": music_quality_loss(means)}


def _group_row(name: str, row: dict) -> str:
    """A Markdown row: a set of pieces' loss, then per loop type its pieces and the loss of their mean metrics."""
    groups = "; ".join(f"{kind}: {g['pieces']}, {_number(g['music_quality_loss'])}"
                       for kind, g in row["groups"].items())
    return f"| {name} | {_number(row['music_quality_loss'], 4)} | {groups} |"


def _number(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    from img2music_tf.paper_numbers import AUTHORS_RESULTS_NOT_IN_THE_PAPER, TABLE1, TABLE2

    tokens, songs = result["repeated_tokens"], result["training_songs"]
    lowest = min(group["min"] for group in tokens.values())
    lines = [
        "# What a Music_Quality_Loss number measures",
        "",
        "`python reproduce/metric_anatomy.py` (`make metric-anatomy`), "
        f"{result['seconds']:.0f} s. Music_Quality_Loss = sum over polyphony rate, pitch entropy and groove "
        "consistency of |value - reference| / reference, reference = the EIMG means (0.5303, 3.9863, 0.9922); "
        "each piece is scored as the tables score it (music21's MIDI at 10080 ticks per beat, muspy). "
        "Polyphony counts ticks with MORE than 2 pitches sounding, so a dyad scores 0.",
        "",
        "**In short:** the metric rewards chords, whatever the music. One token repeated "
        f"{REPEATS} times never scores below {lowest:.2f}, but a four-note chord with a rest, looped, scores "
        f"{result['loops']['four-note chord with a rest `0.3.6.9@1.75 r@0.75`']['music_quality_loss']:.2f}, "
        f"close to the paper's best row (Trans_enc3_dec3_VGG 0.8216: polyphony 0.6975, entropy 1.9974) and "
        f"better than the authors' real training songs taken one at a time (median "
        f"{songs['per_song']['median']:.2f}). After 2 epochs greedy pieces are loops, so a Table 1 cell says "
        "which loop the pieces fell into more than how good the model is: one pitch gives 2.007 (the paper's "
        "Trans_enc2_dec2, 2.0077), a dyad or two alternating pitches 1.757 (the authors' unpublished "
        "\"VA loss after 2 epochs\", 1.7562 with polyphony 0 and entropy 1.0), a chord looped with rests "
        "anywhere from about 1.1 (a short triad) to 0.83 (a long four-note chord), depending on how long it sounds.",
        "",
        f"## One sounding token repeated {REPEATS} times (all of the authors' vocabulary)",
        "",
        "| pitches | tokens | lowest loss | median | highest | lowest-scoring token |",
        "|---|---|---|---|---|---|",
    ]
    for size, group in tokens.items():
        lines.append(f"| {size} | {group['tokens']} | {group['min']:.3f} | {group['median']:.3f} | "
                     f"{group['max']:.3f} | `{group['best_token']}` |")
    lines += ["", "## Hand-made loops", "",
              "| piece | loop type | Music_Quality_Loss | polyphony | pitch entropy | groove |", "|---|---|---|---|---|---|"]
    for label, score in result["loops"].items():
        lines.append(f"| {label} | {score['loop_type']} | {score['music_quality_loss']:.3f} | "
                     f"{score['polyphony_rate']:.4f} | {score['pitch_entropy']:.4f} | {score['groove_consistency']:.4f} |")
    lines += ["", "The paper's and the authors' rows for comparison (loss / polyphony / entropy / groove):", ""]
    for source, rows in (("Table 1", TABLE1), ("Table 2 (4 pieces)", TABLE2),
                         ("authors' results file, not in the paper", AUTHORS_RESULTS_NOT_IN_THE_PAPER)):
        for name, row in rows.items():
            lines.append(f"- {source}: {name} {row['music_quality_loss']:.4f} / {row['polyphony_rate']:.4f} / "
                         f"{row['pitch_entropy']:.4f} / {row['groove_consistency']:.4f}")
    means = songs["mean_metrics"]
    lines += [
        "", "## The authors' training music", "",
        f"The {songs['songs']} distinct songs behind their {songs['pairs']} training pairs (midiData.txt), as "
        f"tokens decode (all parts laid end to end, as generated pieces are): loss per song "
        f"{songs['per_song']['min']:.3f} - {songs['per_song']['median']:.3f} (median) - {songs['per_song']['max']:.3f}; "
        f"the loss of the set's mean metrics is {songs['music_quality_loss_of_means']:.3f} (polyphony "
        f"{means['polyphony_rate']:.4f}, entropy {means['pitch_entropy']:.4f}, groove {means['groove_consistency']:.4f}). "
        f"Loop types: {', '.join(f'{k} {v}' for k, v in songs['loop_types'].items())}. A model that returned "
        "the training songs themselves would score no better than a chord loop.",
        "", "## The committed tables' pieces by loop type", "",
        "Each row's pieces (100 test images) grouped by `loops.loop_type`; per group the loss of its mean metrics. "
        "Read from whatever results/**/table*.json hold when this script runs.", "",
    ]
    for path, table in result["tables"].items():
        if not table["rows"]:
            continue
        settings = table["settings"]
        lines += [f"### {path} ({settings['data']} data, {settings['scale']} scale, fidelity {settings['fidelity']}, "
                  f"image weights {settings['image_weights']})", "",
                  "| row | row's loss | loop type: pieces, loss of their mean metrics |", "|---|---|---|"]
        lines += [_group_row(name, row) for name, row in table["rows"].items()]
        lines.append("")
    if result.get("shipped_model"):
        lines += ["## The shipped model's pieces by loop type", "",
                  "One piece per distinct test image (82) for each decoding of results/pretrained.md, grouped the "
                  "same way (results/pretrained.json, `make pretrained-measure`).", "",
                  "| decoding | its loss | loop type: pieces, loss of their mean metrics |", "|---|---|---|"]
        lines += [_group_row(label, row) for label, row in result["shipped_model"].items()]
        lines.append("")
    lines += ["![loss by kind of piece](metric_anatomy.png)", ""]
    return "\n".join(lines)


def plot(result: dict, target: Path) -> Path:
    """Music_Quality_Loss of each kind of piece as a strip, the paper's rows as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from img2music_tf.paper_numbers import AUTHORS_RESULTS_NOT_IN_THE_PAPER, TABLE1, TABLE2
    from img2music_tf.study.report import save_plot

    strips = {f"1 token x{REPEATS}\n{size} pitch(es)": group["losses"] for size, group in result["repeated_tokens"].items()}
    strips["hand-made\nloops"] = [score["music_quality_loss"] for score in result["loops"].values()]
    strips["authors'\nsongs"] = result["training_songs"]["losses"]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for table in result["tables"].values():
        for row in table["rows"].values():
            for kind, group in row["groups"].items():
                if not math.isnan(group["music_quality_loss"]):
                    by_kind[kind].append(group["music_quality_loss"])
    strips.update({f"our tables:\n{kind}": losses for kind, losses in by_kind.items()})
    figure, axes = plt.subplots(figsize=(11, 5))
    rng = np.random.default_rng(0)
    for k, values in enumerate(strips.values()):
        axes.scatter(k + rng.uniform(-0.2, 0.2, len(values)), values, s=8, alpha=0.5)
    paper = {**{f"paper {n}": r["music_quality_loss"] for n, r in {**TABLE1, **TABLE2}.items()},
             **{f"authors' file {n}": r["music_quality_loss"] for n, r in AUTHORS_RESULTS_NOT_IN_THE_PAPER.items()}}
    for k, (name, value) in enumerate(sorted(paper.items(), key=lambda item: item[1])):
        axes.axhline(value, color="grey", linestyle=":" if name.startswith("paper") else "--", linewidth=0.8)
        axes.annotate(f"{name} {value:.3f}", (len(strips) - 0.5, value), fontsize=6, ha="right",
                      va="bottom" if k % 2 else "top")
    axes.set_xticks(range(len(strips)), list(strips), fontsize=7)
    axes.set_ylabel("Music_Quality_Loss")
    axes.set_title("Music_Quality_Loss by kind of piece (lines: the paper's and the authors' rows)", fontsize=9)
    axes.plot([], [], ":", color="grey", label="paper's Tables 1-2")
    axes.plot([], [], "--", color="grey", label="authors' results file, not in the paper")
    return save_plot(figure, axes, target)


if __name__ == "__main__":
    sys.exit(run_reporting(main))
