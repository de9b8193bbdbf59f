"""`img2music models`: list the paper's model presets with their sizes; compute cached image features."""

from __future__ import annotations

import argparse
from pathlib import Path

from img2music_tf.commands import SEED, WEIGHTS_HELP, integer
from img2music_tf.errors import UserError
from img2music_tf.experiments import SCALES
from img2music_tf.models.architecture import ENCODERS
from img2music_tf.presets import FIDELITIES, PRESET_NAMES, feature_spec, get_preset


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the model presets of the paper's tables; compute image features",
        description="The models of Tables 1 and 2 as named presets, and the frozen CNN image encoders.",
    )
    actions = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="print every preset with its parameter count",
        description="Print a Markdown table of every preset (architecture, training settings, parameter count).",
    )
    listing.add_argument("--scale", choices=tuple(SCALES), default="paper", help="model sizes (default: paper)")
    listing.add_argument(
        "--fidelity", choices=tuple(FIDELITIES), default="paper", help="follow the paper or the authors' code (default: paper)"
    )
    listing.add_argument("--vocab-size", type=integer(4, 100_000), default=978,
                         help="output vocabulary incl. padding, 4 to 100000 (default: 978)")
    listing.set_defaults(run=run_list)

    features = actions.add_parser(
        "features",
        help="compute CNN features of images into a .npy file (cached per image)",
        description="Compute the frozen CNN feature of each image (rows in argument order) and save them as .npy.",
    )
    features.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (any Pillow format)")
    features.add_argument("--out", type=Path, required=True, help="output .npy file, shape (N, F)")
    features.add_argument("--encoder", choices=ENCODERS, default="vgg16", help="CNN (default: vgg16)")
    features.add_argument(
        "--fidelity", choices=tuple(FIDELITIES), default="paper",
        help="paper: VGG16 pooled 512-d; code: VGG16 fc2 4096-d as the authors' scripts (default: paper)",
    )
    features.add_argument(
        "--image-weights", default="imagenet", metavar="WEIGHTS", help=f"{WEIGHTS_HELP} (default: imagenet)",
    )
    features.add_argument("--image-size", type=integer(32, 2048), help="input side in pixels (default: 224 VGG16, 299 InceptionV3)")
    features.add_argument("--seed", type=SEED, default=0, help="seed of the random weights of --image-weights none")
    features.set_defaults(run=run_features)


def run_list(args: argparse.Namespace) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    from img2music_tf.models.img2music import build_model

    configs = [get_preset(name, args.scale, args.fidelity, vocab_size=args.vocab_size) for name in PRESET_NAMES]
    print(f"Model presets at scale={args.scale}, fidelity={args.fidelity}, vocabulary {args.vocab_size}\n")
    print("| preset | MIDI encoder | decoder | image feature | learning rate | epochs | VA loss | parameters |")
    print("|---|---|---|---|---|---|---|---|")
    for name, config in zip(PRESET_NAMES, configs):  # a bad --vocab-size fails above, before the table starts
        print(
            f"| {name} | {_describe_encoder(config)} | {_describe_decoder(config)} "
            f"| {config.image_encoder} {config.image_dim}-d | {config.learning_rate:g} | {config.epochs} "
            f"| {'yes' if config.va_loss else 'no'} | {build_model(config).count_params():,} |"
        )
    return 0


def run_features(args: argparse.Namespace) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py)
    import numpy as np

    from img2music_tf.files import atomic_path, output_dir
    from img2music_tf.models.image_encoder import check_weights, extract_features

    if args.out.suffix != ".npy":
        raise UserError(f"--out must end in .npy, got {args.out}")
    if args.out.is_dir():
        raise UserError(f"--out {args.out} is a folder; name the .npy file to write")
    spec = feature_spec(args.encoder, args.fidelity, args.image_size)
    with output_dir(args.out.parent):  # an unwritable --out fails before the features are computed
        weights = check_weights([spec], args.image_weights)  # offline, imagenet falls back to torchvision
        features = extract_features(args.images, spec, weights=weights, seed=args.seed)
        with atomic_path(args.out) as tmp, open(tmp, "wb") as handle:
            np.save(handle, features)
    print(f"wrote {features.shape[0]} x {features.shape[1]} {args.encoder} features to {args.out}")
    return 0


def _describe_encoder(config) -> str:
    if config.midi_encoder == "lstm":
        return "LSTM " + ", ".join(map(str, config.lstm_units))
    return f"{config.encoder_blocks} transformer blocks"


def _describe_decoder(config) -> str:
    return f"{config.decoder_blocks} attention blocks, Dense {', '.join(map(str, config.decoder_units))}"
