"""The valence and arousal (1-9) of the input pictures, when the user knows or wants to estimate them.

`img2music generate` prints each piece's music VA beside its picture's. A picture's VA comes from
`--image-va V,A` (once per picture), a CSV (`path,valence,arousal`, matched by file name) or the
brightness/saturation rule that labels the built-in pictures (Valdez & Mehrabian 1994; a rough proxy).
A picture whose VA is not given is estimated from its ImageNet VGG16 feature (`with_estimates`, the shipped
`models.image_va_regressor`), marked as an estimate.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from img2music_tf.data.builtin import image_va
from img2music_tf.data.checks import check_images, to_rgb
from img2music_tf.data.items import va_problem
from img2music_tf.errors import UserError
from img2music_tf.models import torchvision_vgg16
from img2music_tf.models.image_va_regressor import ImageVARegressor


def known_image_va(images: list[str], pairs: list[str] | None, csv_path: str | None, rule: bool) -> list:
    """The images' (valence, arousal), None where unknown, from --image-va, --image-va-csv or --image-va-rule."""
    if sum(map(bool, (pairs, csv_path, rule))) > 1:
        raise UserError("give only one of --image-va, --image-va-csv and --image-va-rule")
    if rule:
        return [rule_va(path) for path in check_images(images)]
    if pairs:
        if len(pairs) != len(images):
            raise UserError(f"--image-va given {len(pairs)} times for {len(images)} images: give it once per image")
        return [parse_va(text) for text in pairs]
    if csv_path:
        table = read_va_csv(Path(csv_path))
        known = [table.get(Path(image).name) for image in images]
        if not any(known):  # rows are matched by file name: an empty table, or most likely another set's
            raise UserError(f"--image-va-csv {csv_path} names none of the {len(images)} images (rows are matched by "
                            f"file name, e.g. {Path(images[0]).name})")
        return known
    return [None] * len(images)


def with_estimates(images: list, known: list) -> tuple[list, list[bool]]:
    """`known` (one (valence, arousal) or None per picture) with each None estimated by the shipped image VA
    regressor, and which entries are estimates; without the torchvision weights it needs, the None entries stay,
    said in one line."""
    missing = [i for i, va in enumerate(known) if va is None]
    flags = [False] * len(known)
    if not missing:
        return list(known), flags
    try:
        regressor = ImageVARegressor.load()
        if regressor.weights == "torchvision" and not torchvision_vgg16.installed():
            raise UserError(f"it needs the torchvision VGG16 weights ({torchvision_vgg16.INSTALL})")
    except UserError as error:
        print(f"note: the pictures' VA is not estimated: {error}")
        return list(known), flags
    estimates = regressor.estimate([images[i] for i in missing])  # (M, 2)
    filled = list(known)
    for i, va in zip(missing, estimates):
        filled[i], flags[i] = (round(float(va[0]), 2), round(float(va[1]), 2)), True
    return filled, flags


def rule_va(path: Path) -> tuple[float, float]:
    """(valence, arousal) of a picture from its mean HSV brightness and saturation (`data.builtin.image_va`),
    read as RGB the way the CNN reads it (`data.checks.to_rgb`: transparency on white, 16-bit scaled)."""
    with Image.open(path) as image:
        hsv = np.asarray(to_rgb(image).convert("HSV"), dtype=np.float64) / 255.0  # (H, W, 3)
    return image_va(float(hsv[..., 2].mean()), float(hsv[..., 1].mean()))


def parse_va(text: str, flag: str = "--image-va") -> tuple[float, float]:
    """'V,A' -> (V, A) on the 1-9 scale; errors name the option `flag`."""
    try:
        valence, arousal = (float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"{flag} expects two numbers V,A (e.g. 6.5,3.2), got {text!r}") from None
    if va_problem(valence, arousal):
        raise UserError(f"{flag} values must lie in 1-9, got {text!r}")
    return valence, arousal


def read_va_csv(path: Path) -> dict[str, tuple[float, float]]:
    """path,valence,arousal rows -> {file name: (V, A)}; UTF-8 with or without a byte-order mark (as spreadsheets
    save it); two rows for one file name are refused (which would hold?)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        if not {"path", "valence", "arousal"} <= set(reader.fieldnames or ()):  # also a file of no rows
            raise KeyError("path")
        names = [Path(row["path"]).name for row in rows]
        table = {name: (float(row["valence"]), float(row["arousal"])) for name, row in zip(names, rows)}
    except OSError as error:
        raise UserError(f"cannot read --image-va-csv {path}: {error.strerror or error}") from None
    except (KeyError, TypeError, ValueError):
        raise UserError(f"--image-va-csv {path} needs columns path,valence,arousal with numbers") from None
    if len(table) < len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise UserError(f"--image-va-csv {path} gives {twice} more than once (rows are matched by file name)")
    outside = next((name for name, va in table.items() if va_problem(*va)), None)
    if outside is not None:  # as --image-va
        raise UserError(f"--image-va-csv {path}: values must lie in 1-9, got {','.join(map(str, table[outside]))} "
                        f"for {outside}")
    return table
