"""`img2music generate IMAGE... --run RUN_DIR --out DIR`: a MIDI, WAV and piano roll per picture."""

from __future__ import annotations

import csv
from pathlib import Path

from img2music_tf.errors import UserError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="make music from pictures with a trained run",
        description=(
            "Generate one piece of music per image with a trained run folder (from `img2music train` "
            "or `img2music demo`). For each image IMAGE.jpg it writes IMAGE.mid, IMAGE.wav (FluidSynth, "
            "General MIDI piano) and IMAGE.png (piano roll) into --out, prints each piece's predicted "
            "valence/arousal (1-9) beside the image's when known, and writes summary.json. "
            "Decoding is greedy (the paper's method) unless --method sample."
        ),
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="picture files (JPEG, PNG, ...)")
    parser.add_argument("--run", required=True, metavar="RUN_DIR", dest="run_dir",
                        help="trained run folder (config.json, vocabulary.json, model.keras)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--method", choices=("greedy", "sample"), default="greedy",
                        help="greedy argmax (the paper's method; default) or seeded sampling")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="sampling temperature for --method sample (default: 1.0)")
    parser.add_argument("--top-k", type=int, default=0,
                        help="sample among the k most probable tokens; 0 = all (default)")
    parser.add_argument("--max-len", type=int, default=None,
                        help="longest sequence in tokens (default: the run's max_len, 236 at paper scale)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    parser.add_argument("--va-predictor", metavar="DIR", default=None,
                        help="music VA predictor folder (default: the one the run names or holds, if any)")
    parser.add_argument("--image-va", action="append", metavar="V,A", default=None,
                        help="the image's known valence,arousal (1-9); once per image, in order")
    parser.add_argument("--image-va-csv", metavar="CSV", default=None,
                        help="CSV with columns path,valence,arousal giving images' known VA (matched by file name)")
    parser.add_argument("--image-va-rule", action="store_true",
                        help="estimate each image's VA from its brightness and saturation (Valdez & Mehrabian "
                             "1994; the rule that labels the built-in pictures): a rough proxy, not a rating")
    parser.add_argument("--no-wav", action="store_true", help="skip the WAV rendering (no FluidSynth needed)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from img2music_tf.generate import music_from_images, print_pieces

    image_va = known_image_va(args.images, args.image_va, args.image_va_csv, args.image_va_rule)
    generation = dict(method=args.method, temperature=args.temperature, top_k=args.top_k, seed=args.seed)
    if args.max_len is not None:
        generation["max_len"] = args.max_len
    pieces = music_from_images(
        args.run_dir, args.images, args.out, generation=generation, image_va=image_va,
        va_predictor_dir=args.va_predictor, wav=not args.no_wav,
    )
    print_pieces(pieces, Path(args.out))
    return 0


def known_image_va(images: list[str], pairs: list[str] | None, csv_path: str | None, rule: bool) -> list:
    """The images' (valence, arousal), None where unknown, from --image-va, --image-va-csv or --image-va-rule."""
    if sum(map(bool, (pairs, csv_path, rule))) > 1:
        raise UserError("give only one of --image-va, --image-va-csv and --image-va-rule")
    if rule:
        from img2music_tf.generate import check_images

        return [rule_va(path) for path in check_images(images)]
    if pairs:
        if len(pairs) != len(images):
            raise UserError(f"--image-va given {len(pairs)} times for {len(images)} images: give it once per image")
        return [parse_va(text) for text in pairs]
    if csv_path:
        table = read_va_csv(Path(csv_path))
        return [table.get(Path(image).name) for image in images]
    return [None] * len(images)


def rule_va(path: Path) -> tuple[float, float]:
    """(valence, arousal) of a picture from its mean HSV brightness and saturation (`data.builtin.image_va`)."""
    import numpy as np
    from PIL import Image

    from img2music_tf.data.builtin import image_va

    with Image.open(path) as image:
        hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float64) / 255.0  # (H, W, 3)
    return image_va(float(hsv[..., 2].mean()), float(hsv[..., 1].mean()))


def parse_va(text: str) -> tuple[float, float]:
    """'V,A' -> (V, A) on the 1-9 scale."""
    try:
        valence, arousal = (float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--image-va expects two numbers V,A (e.g. 6.5,3.2), got {text!r}") from None
    if not (1 <= valence <= 9 and 1 <= arousal <= 9):
        raise UserError(f"--image-va values must lie in 1-9, got {text!r}")
    return valence, arousal


def read_va_csv(path: Path) -> dict[str, tuple[float, float]]:
    """path,valence,arousal rows -> {file name: (V, A)}."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return {Path(row["path"]).name: (float(row["valence"]), float(row["arousal"])) for row in rows}
    except OSError as error:
        raise UserError(f"cannot read --image-va-csv {path}: {error.strerror or error}") from None
    except (KeyError, TypeError, ValueError):
        raise UserError(f"--image-va-csv {path} needs columns path,valence,arousal with numbers") from None
