"""Subcommands of `img2music`, one module each (see `img2music_tf.cli`)."""
