"""Cheap checks that a MIDI or image file is usable, so bad files are skipped with a reason, not crashed on.

MIDI: parsed with mido (fast: ~1.5 ms a file) and must hold at least one note.
Images: fully decoded with Pillow (format by content, so a PNG named .jpg is
fine); anything not plain RGB (grayscale, 16-bit, palette, CMYK, alpha) is
converted by `to_rgb` to an RGB PNG in the cache, so every image item is RGB.
`to_rgb` is the one conversion every reader of pictures uses (the CNN features,
the brightness/saturation VA rule).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from img2music_tf import files
from img2music_tf.errors import UserError
from img2music_tf.paths import cache_dir

RGB_VERSION = 2  # of `to_rgb`; part of the cache keys of converted pictures and their features


class UnusableFile(Exception):
    """A data file that cannot be used; the message says why (it goes to skipped.csv)."""


def check_midi(path: Path) -> None:
    """Raise UnusableFile unless `path` parses as MIDI and holds a note."""
    import mido

    try:
        midi = mido.MidiFile(path)
    except Exception as error:  # noqa: BLE001 - mido raises many types on malformed bytes
        raise UnusableFile(f"unreadable MIDI ({type(error).__name__}: {error})") from None
    if not any(msg.type == "note_on" and msg.velocity > 0 for track in midi.tracks for msg in track):
        raise UnusableFile("MIDI holds no notes")


def to_rgb(image):
    """An RGB copy of a Pillow image: transparency (RGBA, LA, PA, a palette's or grey level's transparent colour)
    composited on white; 16-bit and 32-bit grey levels (I;16, I) scaled from 0-65535 to 0-255, not clipped."""
    from PIL import Image

    if image.mode == "I" or image.mode.startswith("I;16"):
        grey = np.asarray(image, dtype=np.float64) * (255 / 65535)  # (H, W)
        return Image.fromarray(np.clip(np.round(grey), 0, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        white.alpha_composite(image.convert("RGBA"))
        return white.convert("RGB")
    return image.convert("RGB")


def rgb_image(path: Path) -> Path:
    """`path` if it is a readable RGB image, else a cached RGB PNG copy (`to_rgb`); raise UnusableFile if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "RGB" and "transparency" not in image.info:
                return path
            rgb = to_rgb(image)
    except Exception as error:  # noqa: BLE001 - Pillow raises many types on malformed bytes
        raise UnusableFile(f"unreadable image ({type(error).__name__}: {error})") from None
    target = cache_dir() / f"rgb-v{RGB_VERSION}" / f"{files.sha256(path)[:20]}.png"
    if not target.exists():
        with files.atomic_path(target) as tmp:
            rgb.save(tmp, format="PNG")
    return target


def check_images(paths) -> list[Path]:
    """The paths as Paths, or a UserError naming the first missing or unreadable picture (or a folder)."""
    from PIL import Image

    checked = []
    for path in paths:
        path = files.check_input_file(path, "image")
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise UserError(f"cannot read image {path}: {error}") from None
        checked.append(path)
    return checked
