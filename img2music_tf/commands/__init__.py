"""Subcommands of `img2music`, one module each (see `img2music_tf.cli`)."""

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
