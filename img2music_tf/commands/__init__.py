"""Subcommands of `img2music`, one module each (see `img2music_tf.cli`)."""

import argparse
import math

from img2music_tf.errors import UserError

WEIGHTS_HELP = ("image CNN weights: torchvision (ImageNet VGG16, installed offline by make setup; InceptionV3 gets "
                "none), imagenet (Keras' download, the paper's; where it fails, torchvision if installed), none "
                "(random, seeded: for tests) or a local .h5 file")
"""The help of every --image-weights option; each adds its default."""


def check_counts(**counts: int | None) -> None:
    """A one-line UserError for the first count given below 1 (`max_songs=0`: "--max-songs must be at least 1,
    got 0"); None means not given."""
    for name, value in counts.items():
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def integer(low: int, high: int | None = None):
    """An argparse type: an int in [low, high] (no upper bound when `high` is None), else argparse's one-line
    error naming the range ("must be an integer from 0 to 4294967295, got -1")."""
    wanted = f"an integer of at least {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {value}")
        return value

    return parse


def number(low: float, high: float, low_inclusive: bool = True):
    """An argparse type: a finite float in [low, high] (or (low, high]), else a one-line error; NaN and
    infinity are refused, so no NaN reaches a loss or a probability."""
    wanted = f"a number {'from' if low_inclusive else 'above'} {low:g} {'to' if low_inclusive else 'up to'} {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        inside = (value >= low if low_inclusive else value > low) and value <= high
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    return parse


SEED = integer(0, 2**32 - 1)  # numpy's and Keras' seeds are unsigned 32-bit
MAX_LEN_LIMIT = 4096  # tokens a generated piece may have (the paper's runs: 236); decoding time grows with it
