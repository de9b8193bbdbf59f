"""`img2music train`: train one preset on a prepared data folder into a run folder."""

from __future__ import annotations

from img2music_tf.commands import SEED, WEIGHTS_HELP, check_counts, number
from img2music_tf.errors import UserError
from img2music_tf.experiments import SCALES
from img2music_tf.presets import FIDELITIES, PRESET_NAMES, get_preset


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model preset on prepared image-music pairs (writes a run folder)",
        description=(
            "Train one model of the paper's tables the way the authors did: each song is one batch of "
            "(image feature, token prefix) -> next token samples, Adam at the preset's learning rate, the "
            "preset's epochs, and for *_VA_Loss presets L_total = lambda_va * L_VA + lambda_cc * L_CC. "
            "After every epoch a row is added to OUT/history.csv and OUT/checkpoint/ is rewritten, so "
            "--resume continues exactly where an interrupted run stopped. The finished run folder "
            "(config.json, vocabulary.json, model.keras) is what `img2music generate --run OUT` loads."
        ),
        epilog=(
            "example: img2music data prepare --out runs/data && "
            "img2music train --data runs/data --preset Trans_enc3_dec3 --scale smoke --out runs/enc3dec3 "
            "--image-weights none"
        ),
    )
    parser.add_argument("--data", required=True, metavar="PREPARED_DIR",
                        help="a folder written by `img2music data prepare`")
    parser.add_argument("--preset", required=True, choices=PRESET_NAMES, metavar="PRESET",
                        help=f"table row to train: {', '.join(PRESET_NAMES)} (*_VA_Soft: a differentiable VA "
                             "term; *_VA_Cond: the decoder conditioned on the music's valence and arousal, beside "
                             "the image feature or, _NoImage, in its place; both not in the paper)")
    parser.add_argument("--scale", default="paper", choices=tuple(SCALES),
                        help="model sizes (experiments.SCALES): paper (the authors', for a GPU; default), smoke "
                             "(minutes on a CPU), tiny (tests), demo and demo-tiny (the demo's)")
    parser.add_argument("--fidelity", default="paper", choices=tuple(FIDELITIES),
                        help="follow the paper (default) or the authors' code where they differ (docs/fidelity.md)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to write")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs to train (default: the preset's, 2 for Table 1 rows, 15 for Table 2 rows)")
    parser.add_argument("--image-weights", default="imagenet", metavar="WEIGHTS", help=f"{WEIGHTS_HELP} (default: imagenet)")
    parser.add_argument("--va-predictor", default=None, metavar="DIR",
                        help="trained music VA predictor (`img2music va train`); required by *_VA_Loss presets")
    parser.add_argument("--seed", type=SEED, default=0, help="seed for initialisation, dropout and song order (default: 0)")
    parser.add_argument("--max-songs", type=int, default=None, metavar="N",
                        help="train on the first N training songs only (quick runs)")
    parser.add_argument("--lambda-va", type=number(0, 1e6), default=None, metavar="L",
                        help="weight of the VA term (default: the preset's: 1e-5 paper, 1e-7 code, 0.1 for "
                             "*_VA_Soft)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="compute in bfloat16 (weights, probabilities and losses stay float32): faster on a GPU, "
                             "not the paper's set-up (default: off)")
    parser.add_argument("--group-rows", type=int, default=None, metavar="G",
                        help="train each song in row groups of at most G prefixes (gradients add up, one Adam step "
                             "per song: the same weights up to float rounding; less memory, 1.8x a pass at paper "
                             "scale on a CPU; default: the whole song in one batch, as the authors)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint (same settings; --epochs may grow)")
    parser.add_argument("--force", action="store_true", help="start again even if --out already holds a run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.run_folder import HISTORY_FILE, RunInfo, read_history
    from img2music_tf.study.pipeline import train_model

    check_counts(epochs=args.epochs, max_songs=args.max_songs, group_rows=args.group_rows)
    overrides = {"mixed_precision": args.mixed_precision, "group_rows": args.group_rows}
    if args.lambda_va is not None:
        overrides["lambda_va"] = args.lambda_va
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    config = get_preset(args.preset, scale=args.scale, fidelity=args.fidelity, **overrides)
    if args.resume and args.force:
        raise UserError("give --resume (continue the run in --out) or --force (start it again), not both")
    existing = "resume" if args.resume else "overwrite" if args.force else "error"
    out = train_model(
        args.data, config, args.out, seed=args.seed, image_weights=args.image_weights,
        va_predictor=args.va_predictor, max_songs=args.max_songs, existing=existing, verbose=0 if args.quiet else 1,
    )
    history, info = read_history(out / HISTORY_FILE), RunInfo.read(out)
    last = history[-1] if history else {}
    print(f"trained {config.name} for {len(history)} epoch(s) on {info.songs['train']} songs; "
          f"final loss {last.get('loss') or float('nan'):.4f}, val_loss {last.get('val_loss') or float('nan'):.4f}")
    print(f"run folder: {out} (model.keras, vocabulary.json, config.json, history.csv)")
    return 0
