"""The picture side of the net's input, and the (valence, arousal) pair a VA-conditioned net reads with it.

Not in the paper (its decoder sees the image feature only). A net of a VA-conditioned preset
(`Architecture.va_condition` "with_image" or "without_image") reads, after the F-d image feature, the pair
it should express, scaled from the 1-9 scale to -1..1: (B, F + 2). In training that pair is the music's own
VA label; at generation it is the picture's VA (given, or estimated from its feature) or the one asked for
(`img2music generate --va`). Every place that feeds the net builds its input here.
"""

from __future__ import annotations

import numpy as np

from img2music_tf.errors import UserError

VA_DIMS = 2  # valence, arousal


def scaled_va(va) -> np.ndarray:
    """(..., 2) valence and arousal on the 1-9 scale -> -1..1 (5, the middle, -> 0)."""
    return (np.asarray(va, dtype="float32") - 5.0) / 4.0


def net_inputs(features: np.ndarray, va, config) -> np.ndarray:
    """What the net of `config` (an `Architecture`) reads as its "image" input for these pictures: the features
    (N, F) as they are, or, for a VA-conditioned net, followed by each row's scaled VA (N, 2): (N, F + 2).
    `va` (N pairs on 1-9, or None) is required for a conditioned net and ignored otherwise."""
    features = np.asarray(features, dtype="float32")  # (N, F)
    if not config.va_conditioned:
        return features
    if va is None or any(pair is None for pair in va):
        raise UserError(f"{config.name} is conditioned on valence and arousal: give each picture's VA "
                        "(--va V,A, --image-va or --image-va-csv), or install the torchvision VGG16 weights to "
                        "estimate it")
    va = np.asarray(va, dtype="float32").reshape(len(features), VA_DIMS)  # (N, 2)
    return np.concatenate([features, scaled_va(va)], axis=1)  # (N, F + 2)
