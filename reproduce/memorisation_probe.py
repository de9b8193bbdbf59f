"""Memorisation probe: at what training loss does greedy decoding stop collapsing and start copying songs?

The paper's models trained on the authors' pairs: 70 songs, each seen ~41 times per epoch, and 3 of
the 4 images behind its Table 2 are training images. This probe trains Trans_enc3_dec3 on the first
N authors' pairs (few songs, many repeats) for many epochs, keeps a snapshot every K epochs, and at
each snapshot decodes greedily for the training images and for the held-out test images, counting
pieces that copy a training song (`img2music_tf/memorisation.py`) and distinct pieces. Writes
results/memorisation_probe.json, .md and .png (training cross-entropy vs share of copies).

    python reproduce/memorisation_probe.py --pairs 20 --epochs 60 --every 10    # ~15 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.experiments import SCALES
from img2music_tf.paths import results_dir, runs_dir


def main() -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20, help="the first N authors' training pairs (default 20)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs to train (default 60)")
    parser.add_argument("--every", type=int, default=10, help="a snapshot every K epochs (default 10)")
    parser.add_argument("--scale", default="smoke", choices=tuple(SCALES), help="model sizes (default smoke)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=runs_dir() / "memorisation_probe")
    parser.add_argument("--out", type=Path, default=results_dir())
    args = parser.parse_args()
    if min(args.pairs, args.epochs, args.every) < 1:
        print("memorisation_probe.py: error: --pairs, --epochs and --every must be at least 1", file=sys.stderr)
        return 2

    from img2music_tf.study import pipeline
    from img2music_tf.environment import environment
    from img2music_tf.files import write_json, write_text
    from img2music_tf.decode import GenerationConfig, generate_tokens
    from img2music_tf.memorisation import SongIndex
    from img2music_tf.metrics import unigram_cross_entropy
    from img2music_tf.presets import get_preset
    from img2music_tf.run_folder import HISTORY_FILE, load_run, read_history

    started = time.perf_counter()
    scale = SCALES[args.scale]
    prepared = pipeline.prepare_data("authors", "emotion6", args.work / "prepared", scale)
    epochs = tuple(range(args.every, args.epochs + 1, args.every))
    config = get_preset("Trans_enc3_dec3", scale=scale, epochs=epochs[-1])
    run_dir = args.work / f"Trans_enc3_dec3_{args.scale}_pairs{args.pairs}_seed{args.seed}"
    pipeline.train_model(prepared, config, run_dir, seed=args.seed, image_weights="none", max_songs=args.pairs,
                         existing="reuse", snapshot_epochs=epochs)
    songs = pipeline.trained_songs(prepared, args.pairs)
    index = SongIndex(songs)
    history = read_history(run_dir / HISTORY_FILE)
    images = {"training images": prepared.pairs_in("train")[: args.pairs], "test images": prepared.pairs_in("test")}
    rows = []
    for epoch in epochs:
        run = load_run(run_dir, epoch)
        row = {"epoch": epoch, "cross_entropy": history[epoch - 1]["cross_entropy"],
               "val_cross_entropy": history[epoch - 1]["val_cross_entropy"]}
        for label, pairs in images.items():
            distinct = dict(sorted({pair.image.id: pair.image.path for pair in pairs}.items()))
            features = run.image_features(list(distinct.values()), progress=False)  # (I, F)
            pieces = generate_tokens(run.model, features, run.vocabulary, GenerationConfig(max_len=config.max_len),
                                     progress=False)
            row[label] = index.summarize(pieces)
        rows.append(row)
        print(f"epoch {epoch}: cross-entropy {row['cross_entropy']:.3f}; "
              + "; ".join(f"{label}: {row[label]['copied']}/{row[label]['pieces']} copies, "
                          f"{row[label]['distinct_pieces']} distinct" for label in images))
    result = {
        "settings": {**vars(args), "work": str(args.work), "out": str(args.out)},
        "songs": len(set(map(tuple, songs.values()))),
        "pairs": len(songs),
        "unigram_cross_entropy": unigram_cross_entropy(songs.values()),
        "environment": environment(),
        "rows": rows,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_json(args.out / "memorisation_probe.json", result)
    write_text(args.out / "memorisation_probe.md", markdown(result))
    plot(result, args.out / "memorisation_probe.png")
    print(f"wrote {args.out / 'memorisation_probe'}.json, .md, .png in {result['wall_seconds']:.0f} s")
    return 0


def markdown(result: dict) -> str:
    settings = result["settings"]
    lines = [
        "# Memorisation probe (not in the paper)",
        "",
        f"Trans_enc3_dec3 at `{settings['scale']}` scale trained on the first {result['pairs']} of the authors' "
        f"training pairs ({result['songs']} distinct songs), image weights `none` (features standardised), seed "
        f"{settings['seed']}; greedy decoding every {settings['every']} epochs for the training images and "
        f"the {result['rows'][0]['test images']['pieces']} held-out test images. Unigram baseline of the training "
        "targets: "
        f"{result['unigram_cross_entropy']:.3f} nats. {result['environment']['backend']} on "
        f"{result['environment']['device']}; {result['wall_seconds']:.0f} s. Command: `python "
        f"reproduce/memorisation_probe.py --pairs {settings['pairs']} --epochs {settings['epochs']} --every "
        f"{settings['every']} --scale {settings['scale']}`.",
        "",
        "| Epoch | Training cross-entropy | Validation cross-entropy | Training images: copies / distinct / one-token "
        "| Test images: copies / distinct / one-token |",
        "|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        cells = [f"{row[label]['copied']}/{row[label]['pieces']} / {row[label]['distinct_pieces']} / "
                 f"{row[label]['one_token_pieces']}" for label in ("training images", "test images")]
        lines.append(f"| {row['epoch']} | {row['cross_entropy']:.3f} | {row['val_cross_entropy']:.3f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict, target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from img2music_tf.study.report import save_plot

    figure, axes = plt.subplots(figsize=(6.5, 4))
    losses = [row["cross_entropy"] for row in result["rows"]]
    for label, style in (("training images", "o-"), ("test images", "s--")):
        shares = [row[label]["copied"] / row[label]["pieces"] for row in result["rows"]]
        axes.plot(losses, shares, style, label=f"{label}: share of pieces copying a training song")
    axes.axvline(result["unigram_cross_entropy"], color="grey", linestyle=":", label="unigram baseline")
    axes.invert_xaxis()
    axes.set_xlabel("training cross-entropy (nats; training goes right)")
    axes.set_ylabel("share of greedy pieces that copy a song")
    axes.set_title("Memorisation probe: authors' pairs", fontsize=9)
    return save_plot(figure, axes, target)


if __name__ == "__main__":
    sys.exit(run_reporting(main))
