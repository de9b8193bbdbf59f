"""`img2music va`: train the music valence-arousal predictor on EIMG, and predict the VA of MIDI files."""

from __future__ import annotations

from pathlib import Path

from img2music_tf.commands import SEED, number
from img2music_tf.errors import UserError
from img2music_tf.paths import cache_dir
from img2music_tf.presets import FIDELITIES


def default_model_dir() -> Path:
    """Where `va train` saves and `va predict` looks by default: <cache>/va_predictor."""
    return cache_dir() / "va_predictor"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "va",
        help="music valence-arousal predictor: train on EIMG, predict V and A of MIDI files",
        description=(
            "The music VA predictor of Wang et al. used by the paper's VA loss (Section 3.3.4): "
            "note rows (onset, pitch, duration, velocity) at 480 ticks per beat, padded to 500 notes, "
            "-> MLP 1024-512 -> (valence, arousal) on 1-9."
        ),
    )
    actions = parser.add_subparsers(dest="va_command", required=True, metavar="ACTION")

    train = actions.add_parser(
        "train",
        help="train on the EIMG music (its split, seed 0) and report test MAE / Pearson r beside the mean baseline",
        description=(
            "Train the predictor with MSE on EIMG's Valence_Mean/Arousal_Mean (train split), stop early on the "
            "validation split, evaluate on the test split, and save va_predictor.keras, config.json and "
            "metrics.json into --out. The EIMG code trained 300 epochs with batch 1 "
            "(--epochs 300 --batch-size 1 --patience 0); the default is batch 32 with early stopping."
        ),
    )
    train.add_argument("--out", type=Path, default=None, help="output folder (default: <cache>/va_predictor)")
    train.add_argument(
        "--source",
        default=None,
        help="EIMG folder with dataset.zip + labels.xlsx (default: $IMG2MUSIC_EIMG_SOURCE, else download)",
    )
    train.add_argument("--fidelity", choices=tuple(FIDELITIES), default="paper",
                       help="paper: BatchNorm after each hidden layer; code: no BatchNorm, no biases")
    train.add_argument("--no-standardize", action="store_true",
                       help="feed raw note rows (the EIMG code) instead of standardising each column")
    train.add_argument("--epochs", type=int, default=None, help="most epochs (default 200)")
    train.add_argument("--batch-size", type=int, default=None, help="default 32")
    train.add_argument("--learning-rate", type=number(0, 1, low_inclusive=False), default=None,
                       help="Adam learning rate, above 0 up to 1 (default 1e-4)")
    train.add_argument("--patience", type=int, default=None,
                       help="stop after this many epochs without a better validation loss; 0 = never (default 20)")
    train.add_argument("--seed", type=SEED, default=None, help="seed of the initial weights and shuffling (default 0)")
    train.add_argument("--limit", type=int, default=None, help="use only the first N pieces (quick checks)")
    train.set_defaults(run=run_train)

    predict = actions.add_parser(
        "predict",
        help="print the predicted valence and arousal (1-9) of MIDI files",
        description="Print one line per MIDI file: file, valence, arousal (tab-separated). A value outside 1-9, "
                    "where the predictor extrapolates, is printed as it is, marked with '*'.",
    )
    predict.add_argument("files", nargs="+", type=Path, metavar="FILE.mid",
                         help="MIDI files to rate (each needs pitched notes)")
    predict.add_argument("--model", type=Path, default=None,
                         help="folder written by `va train` (default: <cache>/va_predictor)")
    predict.set_defaults(run=run_predict)


def _check_positive(name: str, value: int | float) -> None:
    if value <= 0:
        raise UserError(f"{name} must be positive, got {value}")


def run_train(args) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.data import eimg
    from img2music_tf.data.download import DownloadError
    from img2music_tf.models.va_predictor import VAPredictorConfig
    from img2music_tf.va_training import VATrainConfig, train_on_items

    settings = {
        name: getattr(args, name)
        for name in ("epochs", "batch_size", "learning_rate", "patience", "seed")
        if getattr(args, name) is not None
    }
    for name in ("epochs", "batch_size"):
        if name in settings:
            _check_positive(f"--{name.replace('_', '-')}", settings[name])
    if args.limit is not None:
        _check_positive("--limit", args.limit)
    if args.patience is not None and args.patience < 0:
        raise UserError(f"--patience must be 0 (never stop early) or more, got {args.patience}")
    out = args.out or default_model_dir()
    try:
        source = eimg.load(args.source)
    except DownloadError as error:
        raise error.naming("--source") from None
    items = source.items[: args.limit]
    batchnorm = FIDELITIES[args.fidelity].va_batchnorm
    config = VAPredictorConfig(batchnorm=batchnorm, standardize=not args.no_standardize)
    train_config = VATrainConfig(**settings)
    figures = train_on_items(items, out, config, train_config, skipped=source.skipped)
    print(format_figures(figures))
    print(f"saved the VA predictor in {out}")
    return 0


def format_figures(figures: dict) -> str:
    """The test figures beside the training-mean baseline, as a small Markdown table."""
    test, baseline = figures["test"], figures["baseline_train_mean"]["test"]
    lines = [
        f"test split: {test['n']} pieces; stopped after {figures['training']['epochs_run']} epochs "
        f"(best {figures['training']['best_epoch']}); skipped {len(figures['skipped'])} files",
        "| predictor | V MAE | V r | A MAE | A r | mean MAE |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in (("VA predictor", test), ("training mean", baseline)):
        r = {dim: "-" if row[dim]["pearson_r"] is None else f"{row[dim]['pearson_r']:.3f}"
             for dim in ("valence", "arousal")}
        lines.append(
            f"| {name} | {row['valence']['mae']:.3f} | {r['valence']} | "
            f"{row['arousal']['mae']:.3f} | {r['arousal']} | {row['mae_mean']:.3f} |"
        )
    return "\n".join(lines)


def run_predict(args) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.files import check_input_file
    from img2music_tf.models.va_predictor import EXTRAPOLATED, VAPredictor, check_rateable, extrapolated, marked

    for path in args.files:
        check_rateable(check_input_file(path, "MIDI"))
    predictor = VAPredictor.load(args.model or default_model_dir())
    va = predictor.predict_midi(args.files)  # (N, 2)
    print("file\tvalence\tarousal")
    for path, (valence, arousal) in zip(args.files, va):
        print(f"{path}\t{marked(valence, 3)}\t{marked(arousal, 3)}")
    if any(extrapolated(value) for value in va.ravel()):
        print(EXTRAPOLATED)
    return 0
