"""`img2music generate IMAGE... --out DIR [--run RUN_DIR] [--va V,A]`: a MIDI, WAV and piano roll per picture."""

from __future__ import annotations

from pathlib import Path

from img2music_tf.commands import MAX_LEN_LIMIT, SEED, integer, number
from img2music_tf.pretrained import DEFAULT_GENERATION, generation_settings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="make music from pictures: with the model shipped in the package, or a run you trained",
        description=(
            "Generate one piece of music per image with a trained run folder (from `img2music train` "
            "or `img2music demo`), or without --run with the model shipped in the package (a small model trained "
            "on EIMG + Emotion6, see the README's model card). For each image IMAGE.jpg "
            "it writes IMAGE.mid, IMAGE.wav (FluidSynth, General MIDI piano) and IMAGE-pianoroll.png into --out, "
            "prints each piece's predicted valence/arousal (1-9; a value outside, where the predictor "
            "extrapolates, is marked '*') beside the image's: given, or else estimated from its ImageNet VGG16 "
            "feature (a ridge regression on Emotion6's ratings, marked '(estimated)'); and writes summary.json. Decoding is "
            "greedy (the paper's method) with --run, and with the shipped model (whose greedy music collapses) "
            f"seeded top-{DEFAULT_GENERATION['top_k']} sampling with a length rule: a piece with fewer than "
            f"{DEFAULT_GENERATION['min_notes']} notes or shorter than {DEFAULT_GENERATION['min_seconds']:g} s is "
            f"sampled again with the next seed, up to {DEFAULT_GENERATION['tries']} seeds. Each picture draws "
            "from its own random stream (from its file's content and --seed), so a picture gets the same music "
            "alone or among others. A run of a VA-conditioned preset (Trans_enc3_dec3_VA_Cond*, not in the paper) "
            "expresses each picture's VA (given, or estimated), or the one --va asks for; with --va and no picture, "
            "a run of Trans_enc3_dec3_VA_Cond_NoImage makes one piece from that VA alone. An --out that holds an "
            "earlier set is refused unless --force."
        ),
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE",
                        help="picture files (JPEG, PNG, ...); none with --va and a run that reads no picture")
    parser.add_argument("--run", metavar="RUN_DIR", dest="run_dir",
                        help="trained run folder (config.json, vocabulary.json, model.keras); without it, the "
                             "model shipped in the package")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--method", choices=("greedy", "sample"), default=None,
                        help="greedy argmax (the paper's method) or seeded sampling (default: greedy with --run, "
                             "sample with the shipped model)")
    parser.add_argument("--temperature", type=number(0, 100, low_inclusive=False), default=1.0,
                        help="sampling temperature for --method sample (default: 1.0)")
    parser.add_argument("--top-k", type=integer(0), default=None,
                        help="sample among the k most probable tokens; 0 = all (default: 0 with --run, "
                             f"{DEFAULT_GENERATION['top_k']} with the shipped model)")
    parser.add_argument("--max-len", type=integer(2, MAX_LEN_LIMIT), default=None,
                        help=f"longest sequence in tokens, at most {MAX_LEN_LIMIT} (default: the run's max_len, 236 "
                             "at paper scale)")
    parser.add_argument("--seed", type=SEED, default=0, help="sampling seed, 0 to 2^32-1 (default: 0)")
    parser.add_argument("--tries", type=integer(1, 1000), default=None,
                        help="with --method sample, a piece that breaks the length rule is sampled again with the "
                             "next seed, up to this many seeds in all (default: 1 with --run, "
                             f"{DEFAULT_GENERATION['tries']} with the shipped model)")
    parser.add_argument("--min-notes", type=integer(0, 10_000), default=None,
                        help="length rule: notes a sampled piece needs, a chord counting each (default: 1 with "
                             f"--run, {DEFAULT_GENERATION['min_notes']} with the shipped model)")
    parser.add_argument("--min-seconds", type=number(0, 3600), default=None,
                        help="length rule: seconds a sampled piece must sound (default: 0 with --run, "
                             f"{DEFAULT_GENERATION['min_seconds']:g} with the shipped model)")
    parser.add_argument("--va-predictor", metavar="DIR", default=None,
                        help="music VA predictor folder (default: the one the run names or holds, if any)")
    parser.add_argument("--va", metavar="V,A", default=None,
                        help="the valence,arousal (1-9) the music should express, for every picture (a run of a "
                             "VA-conditioned preset only; default: each picture's own VA)")
    parser.add_argument("--image-va", action="append", metavar="V,A", default=None,
                        help="the image's known valence,arousal (1-9); once per image, in order")
    parser.add_argument("--image-va-csv", metavar="CSV", default=None,
                        help="CSV with columns path,valence,arousal giving images' known VA (matched by file name)")
    parser.add_argument("--image-va-rule", action="store_true",
                        help="estimate each image's VA from its brightness and saturation (Valdez & Mehrabian "
                             "1994; the rule that labels the built-in pictures): a rough proxy, not a rating")
    parser.add_argument("--no-wav", action="store_true", help="skip the WAV rendering (no FluidSynth needed)")
    parser.add_argument("--force", action="store_true",
                        help="replace the music an earlier generate wrote into --out (its files and summary.json)")
    parser.set_defaults(run=run)


def run(args) -> int:
    # the method is imported here, not at the top: --help loads the command layer and the configs only
    # (tests/test_cli.py); the pictures are checked before TensorFlow loads, so a typo is said at once
    from img2music_tf.data.checks import check_images
    from img2music_tf.errors import UserError
    from img2music_tf.image_va import parse_va

    va = parse_va(args.va, "--va") if args.va is not None else None
    if not args.images and va is None:
        raise UserError("give at least one picture (or, with a run that reads no picture, --va V,A)")
    check_images(args.images)
    from img2music_tf.generate import music_from_images, print_pieces
    from img2music_tf.image_va import known_image_va, with_estimates
    from img2music_tf.run_folder import RunInfo

    image_va, estimated = with_estimates(
        args.images, known_image_va(args.images, args.image_va, args.image_va_csv, args.image_va_rule))
    shipped = args.run_dir is None  # the shipped model, with the decoding its measurement chose
    if shipped and va is not None:  # measured not to steer at its size (README, "Does it align ..."): not shipped
        raise UserError("the shipped model is not conditioned on valence and arousal, so --va cannot steer it: "
                        "train a run of Trans_enc3_dec3_VA_Cond or Trans_enc3_dec3_VA_Cond_NoImage and pass --run")
    if shipped:
        from img2music_tf.pretrained import model_folder

        args.run_dir = model_folder()
    generation = generation_settings(shipped, method=args.method, top_k=args.top_k, tries=args.tries,
                                     min_notes=args.min_notes, min_seconds=args.min_seconds,
                                     temperature=args.temperature, seed=args.seed)
    if args.max_len is not None:
        generation["max_len"] = args.max_len
    pieces = music_from_images(
        args.run_dir, args.images, args.out, generation=generation, image_va=image_va, image_va_estimated=estimated, va=va,
        va_predictor_dir=args.va_predictor, wav=not args.no_wav, overwrite=args.force,
    )
    print_pieces(pieces, Path(args.out))
    if RunInfo.read(Path(args.run_dir)).image_weights == "none":
        print("note: this run's picture CNN has random weights (image weights 'none'), so the music cannot follow "
              "what the picture shows; train a run with `img2music train --image-weights torchvision` (ImageNet "
              "VGG16, installed offline) or imagenet (Keras' download, the paper's)")
    return 0
