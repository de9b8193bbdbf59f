"""`img2music demo --out DIR`: the whole method on the built-in data, end to end, in a few minutes on a CPU."""

from __future__ import annotations

import dataclasses

from img2music_tf.commands import SEED, WEIGHTS_HELP, check_counts


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train a small model on the built-in data and make music from pictures (a few minutes on a CPU)",
        description=(
            "The main job, end to end and offline: builds the built-in data (music from music21's corpus, "
            "generated pictures, VA from published rules), pairs and splits it, trains a small music VA "
            "predictor and a small image-to-music model (smoke scale), then generates MIDI, WAV and "
            "piano-roll PNG files for a few test pictures into --out. The image CNN is VGG16 with "
            "torchvision's ImageNet weights (installed offline by make setup); --image-weights imagenet takes "
            "Keras' download, the paper's."
        ),
    )
    parser.add_argument("--out", default="out/demo", metavar="DIR", help="output folder (default: out/demo)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs of the image-to-music model (default: 2, as in the paper's Table 1)")
    parser.add_argument("--seed", type=SEED, default=0,
                        help="one seed for data split, weights and sampling (default: 0)")
    parser.add_argument("--images", type=int, default=None, metavar="N",
                        help="how many test pictures to make music for (default: 4)")
    parser.add_argument("--image-weights", default=None, metavar="WEIGHTS",
                        help=f"{WEIGHTS_HELP} (default: torchvision; none with --tiny)")
    parser.add_argument("--tiny", action="store_true",
                        help="a very small demo (10 pieces, tiny model, 1 epoch): checks the pipeline in a minute")
    parser.set_defaults(run=run)


def run(args) -> int:
    # the study is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.study.demo import DEMOS, run_demo

    check_counts(epochs=args.epochs, images=args.images)
    config = DEMOS["tiny" if args.tiny else "full"]
    scale = config.scale.replace(image_weights=args.image_weights, epochs=args.epochs)
    changes = {"seed": args.seed, "scale": scale}
    if args.images is not None:
        changes["n_generate"] = args.images
    run_demo(dataclasses.replace(config, **changes), args.out)
    return 0
