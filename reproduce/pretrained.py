"""The model shipped in the package (`img2music_tf/pretrained_model/`): measure it and copy it there.

`make pretrained` trains Trans_enc3_dec3 at smoke scale on the first 300 EIMG + Emotion6 training pairs for
12 epochs (image weights `none`, about 15 minutes on 2 CPU cores) into runs/pretrained/run, then runs this
script, which decodes the 100 test images greedily and by seeded top-k sampling (k = 3, 5, 10, 20), counts
pieces with notes,
pieces that are one repeated token, distinct pieces and copies of a training song, writes
results/pretrained.json and .md (the README's model card), and copies config.json, vocabulary.json,
model.keras and history.csv into the package.

    python reproduce/pretrained.py --run runs/pretrained/run --data runs/pretrained/data
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "pretrained" / "run")
    parser.add_argument("--data", type=Path, default=REPO / "runs" / "pretrained" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "results")
    args = parser.parse_args()

    from img2music_tf import pipeline, tokens
    from img2music_tf.data.prepare import load_prepared
    from img2music_tf.environment import environment
    from img2music_tf.files import atomic_path, write_json, write_text
    from img2music_tf.generate import GenerationConfig, generate_tokens
    from img2music_tf.memorisation import TrainingSongs
    from img2music_tf.metrics import unigram_cross_entropy
    from img2music_tf.pretrained import DEFAULT_GENERATION, MODEL_FOLDER, SHIPPED_FILES
    from img2music_tf.run_folder import HISTORY_FILE, load_run, read_history

    run = load_run(args.run)
    prepared = load_prepared(args.data)
    songs = pipeline.trained_songs(prepared, run.info.max_songs)
    index = TrainingSongs(songs)
    test = prepared.pairs_in("test")
    images = dict(sorted({pair.image.id: pair.image.path for pair in test}.items()))
    features = run.image_features(list(images.values()), progress=False)  # (I, F)
    methods = {"greedy": {"method": "greedy"},
               **{f"top-{k} sampling{' (default)' if DEFAULT_GENERATION['top_k'] == k else ''}":
                  {**DEFAULT_GENERATION, "top_k": k} for k in (3, 5, 10, 20)}}
    rows = {}
    for label, generation in methods.items():
        config = GenerationConfig(**{**generation, "max_len": run.config.max_len})
        pieces = generate_tokens(run.model, features, run.vocabulary, config, progress=False)
        notes = [len(tokens.tokens_to_notes(piece)) for piece in pieces]
        rows[label] = {
            "generation": generation,
            "with_notes": sum(n > 0 for n in notes),
            "notes_median": sorted(notes)[len(notes) // 2],
            **index.summarize(pieces),
        }
    history = read_history(args.run / HISTORY_FILE)
    result = {
        "run": str(args.run),
        "model": run.config.to_dict(),
        "image_weights": run.info.image_weights,
        "songs": run.info.songs,
        "epochs": len(history),
        "final_cross_entropy": history[-1]["cross_entropy"],
        "final_val_cross_entropy": history[-1]["val_cross_entropy"],
        "unigram_cross_entropy": unigram_cross_entropy(songs.values()),
        "test_images": len(images),
        "decoding": rows,
        "environment": environment(),
    }
    write_json(args.out / "pretrained.json", result)
    write_text(args.out / "pretrained.md", render(result))
    MODEL_FOLDER.mkdir(exist_ok=True)
    for name in SHIPPED_FILES:
        with atomic_path(MODEL_FOLDER / name) as tmp:  # never a half-copied model in the package
            shutil.copyfile(args.run / name, tmp)
    print(f"wrote {args.out / 'pretrained.md'}; shipped {', '.join(SHIPPED_FILES)} into {MODEL_FOLDER}")
    return 0


def render(result: dict) -> str:
    model = result["model"]
    lines = [
        "# The shipped model (`img2music generate photo.jpg --out DIR`)",
        "",
        f"`{model['name']}` at `{model['scale']}` scale (embedding {model['embed_dim']}, vocabulary "
        f"{model['vocab_size']}), trained on the first {result['songs']['train']} EIMG + Emotion6 training pairs "
        f"for {result['epochs']} epochs, image weights `{result['image_weights']}` (a random, seeded VGG16: the "
        "features tell pictures apart once standardised, but say little about what they show). Final training "
        f"cross-entropy {result['final_cross_entropy']:.3f} nats (validation {result['final_val_cross_entropy']:.3f}; "
        f"unigram baseline {result['unigram_cross_entropy']:.3f}). Made by `make pretrained`.",
        "",
        f"On the {result['test_images']} distinct test images:",
        "",
        "| decoding | pieces with notes | median notes | one repeated token | distinct pieces | copies of a training song |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in result["decoding"].items():
        lines.append(f"| {label} | {row['with_notes']} / {row['pieces']} | {row['notes_median']} | "
                     f"{row['one_token_pieces']} | {row['distinct_pieces']} | {row['copied']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
