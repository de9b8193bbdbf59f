"""Token maps: would the authors' hash-seeded tokenizer, read in a new process, give the paper's Table 1 numbers?

The authors' tokenizer numbered its tokens in a Python set's order, which changes with the hash seed of each
process (docs/fidelity.md, "Token ids depend on Python's hash seed"). A model decoded in a new process had its
argmax ids read through another id -> token map. This script takes the greedy pieces for the test pairs of
runs (those a table result holds, e.g. our smoke Table 1's, or a run folder's: stored test tokens, else decoded
from its net), and scores them as generated and re-read through
the maps of hash seeds 1..K (`img2music_tf/study/token_maps.py`): polyphony rate, pitch entropy, groove
consistency, Music_Quality_Loss and loop types, beside the paper's Table 1. It also counts how much of the
authors' vocabulary, and of their music, chords of 3 or more notes are. Writes results/token_maps.md, .json and
.png (polyphony of each map beside the paper's rows).

    python reproduce/token_maps.py                       # the pieces of results/authors/table1.json
                                                         # (their data prepared under runs/reproduce if not here)
    python reproduce/token_maps.py --run DIR --run DIR2  # run folders (make token-maps RUNS="DIR DIR2")

Minutes per run: a few seconds per distinct piece and map (greedy pieces repeat, so fewer).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.paths import results_dir

TABLE1 = results_dir() / "authors" / "table1.json"


def main() -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, action="append", default=[],
                        help="a table result whose pieces to measure (repeat for more; default: results/authors/"
                             "table1.json when no --run is given)")
    parser.add_argument("--run", type=Path, action="append", default=[],
                        help="a run folder whose test pieces to measure (repeat for more)")
    parser.add_argument("--prepared", type=Path, default=None,
                        help="prepared data (test split, training songs) for the runs whose recorded prepared "
                             "folder is not here (default for a table's runs: the data its settings record, "
                             "prepared once under its work folder, e.g. runs/reproduce)")
    parser.add_argument("--epoch", type=int, default=None,
                        help="the pieces after this epoch (default: each run's last)")
    parser.add_argument("--maps", type=int, default=20, help="hash seeds 1..K, one map each (default 20)")
    parser.add_argument("--authors", type=Path, default=None,
                        help="the authors' midiData.txt or its folder (default: $IMG2MUSIC_AUTHORS_SOURCE)")
    parser.add_argument("--out", type=Path, default=results_dir())
    args = parser.parse_args()
    if args.maps < 1 or (args.epoch is not None and args.epoch < 1):
        parser.error("--maps and --epoch must be at least 1")

    from img2music_tf.data import authors
    from img2music_tf.errors import UserError
    from img2music_tf.files import write_json, write_text
    from img2music_tf.paper_numbers import TABLE1 as PAPER
    from img2music_tf.study.token_maps import chord_shares, measure_run, measure_table

    tables = args.table or ([] if args.run else [TABLE1])
    for path in [*args.run, *tables]:
        if not path.exists():
            raise UserError(f"not found: {path}")
    table_results = [read_table(table) for table in tables]  # a wrong file fails now, not after minutes
    started = time.perf_counter()
    pairs = authors.load(args.authors).pairs
    seeds = list(range(1, args.maps + 1))
    command = " ".join(["python reproduce/token_maps.py", *[f"--table {table}" for table in args.table],
                        *[f"--run {run}" for run in args.run],
                        *[f"--prepared {args.prepared}"] * bool(args.prepared),
                        *[f"--epoch {args.epoch}"] * bool(args.epoch), f"--maps {args.maps}"])
    result = {
        "settings": {"tables": [str(table) for table in tables], "runs": [str(run) for run in args.run],
                     "maps": args.maps, "hash_seeds": seeds, "epoch": args.epoch,
                     "prepared": None if args.prepared is None else str(args.prepared), "command": command},
        "authors_chords": {"pairs": chord_shares(pairs.values()),
                           "distinct_songs": chord_shares(song.tokens for song in authors.distinct_songs(pairs))},
        "paper_table1": PAPER,
    }
    result["runs"] = [run for table in table_results for run in measure_table(table, seeds, args.prepared)]
    result["runs"] += [measure_run(run, seeds, args.prepared, args.epoch) for run in args.run]
    for run in result["runs"]:
        print(f"{run['preset']} ({run['source']}): polyphony {run['generated']['polyphony_rate']['mean']:.4f} "
              f"generated, {run['spread']['polyphony_rate']['mean']:.4f} re-read (mean of {args.maps} maps)")
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "token_maps.json", result)
    write_text(args.out / "token_maps.md", markdown(result))
    plot(result, args.out / "token_maps.png")
    print(f"wrote {args.out / 'token_maps'}.md, .json, .png in {result['wall_seconds']:.0f} s")
    return 0


def read_table(table: Path) -> dict:
    """A table result, checked to hold its settings and rows of seeds (the runs `measure_table` measures)."""
    from img2music_tf.errors import UserError

    try:
        result = json.loads(table.read_text(encoding="utf-8"))
        entries = [entry for row in result["rows"].values() for entry in row["seeds"]]
        if not all("run_config" in entry for entry in entries) or "scale_sizes" not in result["settings"]:
            raise KeyError("a run_config or the settings' scale_sizes")
        return result
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"{table} is not a table result with settings and rows of seeds ({error})") from None


def _spread(values: dict, maps: int) -> str:
    """mean ± sd [min, max] over the maps, and how many maps gave a defined value where some did not."""
    text = f"{values['mean']:.4f} ± {values['sd']:.4f} [{values['min']:.4f}, {values['max']:.4f}]"
    return text if values["n_maps"] == maps else f"{text} ({values['n_maps']} maps with notes)"


def markdown(result: dict) -> str:
    from img2music_tf.loops import LOOP_TYPES

    settings, chords = result["settings"], result["authors_chords"]
    maps = settings["maps"]
    best = max(row["polyphony_rate"] for row in result["paper_table1"].values())
    lines = [
        "# Token maps: argmax ids read through another process's id -> token map (not in the paper)",
        "",
        "The authors' tokenizer numbered tokens in a Python set's order, which follows `PYTHONHASHSEED` (new in "
        "each process): a model decoded in a new process had its argmax ids read through another map "
        "(docs/fidelity.md). Here each run's greedy test pieces (one per test pair) are scored as generated and "
        f"with their ids re-read through the maps of hash seeds 1..{maps} (`img2music_tf/study/token_maps.py`: "
        "every token moves, `<start>` and `<end>` included, only padding keeps id 0; an id re-read as `<end>` ends "
        "the piece, one re-read as `<start>` is left out; the model is not run again). Metrics: the paper's muspy "
        "means over the pieces where defined; Music_Quality_Loss of the means against the paper's reference values. "
        f"Command: `{settings['command']}` ({result['wall_seconds']:.0f} s).",
        "",
        "## Chords of 3 or more notes in the authors' data (midiData.txt)",
        "",
        "| counted over | tokens | sounding tokens | chords of 3+ notes | share of sounding tokens in the vocabulary "
        "| share of all tokens in the vocabulary | share of the sounding tokens played |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, key in (("the 2884 training pairs (as trained)", "pairs"), ("the 70 distinct songs", "distinct_songs")):
        row = chords[key]
        lines.append(f"| {label} | {row['tokens']} | {row['sounding_tokens']} | {row['chords_of_3_or_more']} | "
                     f"{row['vocabulary_share']:.1%} | {row['share_of_all_tokens']:.1%} | "
                     f"{row['frequency_share']:.1%} |")
    lines += [
        "",
        "A random map reads a given id as a chord of 3+ notes about as often as the vocabulary holds them "
        f"({chords['pairs']['share_of_all_tokens']:.0%} of all tokens), twice as often as the music plays them.",
        "",
        "## The runs, as generated and re-read",
        "",
        "| run | pieces | polyphony rate | pitch entropy | groove consistency | Music_Quality_Loss | loop types "
        f"({', '.join(LOOP_TYPES)}) |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        generated = run["generated"]
        name = (f"{run['preset']} ({run['music']} data, {run['scale']} scale, {run['songs'] or 'all'} songs, "
                f"vocabulary {run['vocabulary']}, epoch {run['epoch']}, image weights {run['image_weights']}, "
                f"seed {run['seed']}; {run['source']})")
        types = lambda row: " / ".join(str(row["loop_types"].get(kind, 0)) for kind in LOOP_TYPES)  # noqa: E731
        lines.append(f"| {name}, as generated | {generated['n']} | "
                     + " | ".join(f"{generated[n]['mean']:.4f}" for n in ("polyphony_rate", "pitch_entropy",
                                                                          "groove_consistency"))
                     + f" | {generated['music_quality_loss']:.4f} | {types(generated)} |")
        mean_types = {kind: sum(row["loop_types"].get(kind, 0) for row in run["maps"]) / maps for kind in LOOP_TYPES}
        lines.append(f"| re-read through {maps} maps: mean ± sd [min, max] | {generated['n']} | "
                     + " | ".join(_spread(run["spread"][n], maps) for n in ("polyphony_rate", "pitch_entropy",
                                                                      "groove_consistency", "music_quality_loss"))
                     + " | " + " / ".join(f"{mean_types[kind]:.1f}" for kind in LOOP_TYPES) + " (mean) |")
        reached = sum(row["polyphony_rate"]["mean"] >= best for row in run["maps"])
        lines.append(f"| maps whose polyphony reaches the paper's best row ({best}) | {reached} of {maps} | | | | | |")
    lines += ["", "The paper's Table 1 (after 2 epochs):", "",
              "| row | polyphony rate | pitch entropy | groove consistency | Music_Quality_Loss |",
              "|---|---|---|---|---|"]
    for name, row in result["paper_table1"].items():
        lines.append(f"| {name} | {row['polyphony_rate']:.4f} | {row['pitch_entropy']:.4f} | "
                     f"{row['groove_consistency']:.4f} | {row['music_quality_loss']:.4f} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from img2music_tf.study.report import save_plot

    figure, axes = plt.subplots(figsize=(9, 4))
    for i, run in enumerate(result["runs"]):
        values = [row["polyphony_rate"]["mean"] for row in run["maps"]]
        axes.plot([i] * len(values), values, "o", alpha=0.5, color="tab:blue",
                  label="re-read through one map" if i == 0 else None)
        axes.plot([i], [run["generated"]["polyphony_rate"]["mean"]], "k*", markersize=12,
                  label="as generated" if i == 0 else None)
    paper = sorted(result["paper_table1"].items(), key=lambda item: -item[1]["polyphony_rate"])  # legend: top first
    for i, (name, row) in enumerate(paper, start=1):  # colours after the points' C0
        axes.axhline(row["polyphony_rate"], linestyle=":", linewidth=1.5, color=f"C{i}",
                     label=f"paper's {name}: {row['polyphony_rate']:.4f}")
    axes.set_xticks(range(len(result["runs"])), [f"{run['preset']}\n{run['music']} {run['scale']} seed {run['seed']}"
                                                 for run in result["runs"]], fontsize=6, rotation=30, ha="right",
                  rotation_mode="anchor")
    axes.set_ylabel("polyphony rate (mean over the test pieces)")
    axes.set_title("Greedy test pieces re-read through other processes' token maps", fontsize=9)
    return save_plot(figure, axes, target, loc="upper left", bbox_to_anchor=(1.01, 1), title="polyphony rate",
                     title_fontsize=7)


if __name__ == "__main__":
    sys.exit(run_reporting(main))
