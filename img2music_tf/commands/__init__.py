"""Subcommands of `img2music`, one module each (see `img2music_tf.cli`)."""

from img2music_tf.errors import UserError


def check_counts(**counts: int | None) -> None:
    """A one-line UserError for the first count given below 1 (`max_songs=0`: "--max-songs must be at least 1,
    got 0"); None means not given."""
    for name, value in counts.items():
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
