"""One picture's upload, checked: its bytes are a picture Pillow reads, its VA and decoding settings are valid.

Every problem is a `UserError` of one line, which the page shows beside the picture and the API returns as
`{"error": ...}` with status 400 (413 for a picture over the size limit).
"""

from __future__ import annotations

import dataclasses
import io

from img2music_tf.data.items import va_problem
from img2music_tf.errors import UserError

DECODINGS = ("default", "greedy")  # the model's own (sampling, for the shipped model) or the paper's greedy
MAX_SEED = 2**31 - 1
MAX_TRIES = 100
MAX_PIXELS = 50_000_000  # a small file may hold a huge picture; decoding one costs memory
FORMAT_SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}


class TooLarge(UserError):
    """An upload over the size limit (HTTP 413)."""


@dataclasses.dataclass(frozen=True)
class PieceRequest:
    """A checked request for one piece: the picture's bytes and the settings to make its music with."""

    picture: bytes
    name: str  # the uploaded file's name, shown on the page; never a path on this machine
    suffix: str  # ".jpg", ".png", ... from the picture's format as Pillow reads it
    image_va: tuple[float, float] | None = None
    decoding: str = "default"
    seed: int = 0
    tries: int | None = None  # None = the model's default


def check_size(size: int, limit: int) -> None:
    """TooLarge when `size` bytes exceed `limit`."""
    if size > limit:
        raise TooLarge(f"the upload is {size / (1 << 20):.1f} MB; the limit is {limit / (1 << 20):g} MB a picture")


def picture_suffix(data: bytes, name: str) -> str:
    """The file suffix of the picture in `data`, or a UserError saying that `name` is not one Pillow reads."""
    from PIL import Image

    if not data:
        raise UserError(f"{name} is empty: choose a picture file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise UserError(f"{name} is {image.width} x {image.height} pixels; the limit is "
                                f"{MAX_PIXELS / 1e6:g} megapixels")
            image.load()
            kind = image.format
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise UserError(f"{name} is not a picture this page reads (JPEG, PNG, GIF, BMP, WebP, TIFF)") from None
    if kind not in FORMAT_SUFFIXES:
        raise UserError(f"{name} is a {kind} picture; this page reads JPEG, PNG, GIF, BMP, WebP and TIFF")
    return FORMAT_SUFFIXES[kind]


def parse_va(text: str) -> tuple[float, float] | None:
    """'V,A' (1-9 each) -> (V, A); an empty text -> None (the VA is estimated)."""
    text = text.strip()
    if not text:
        return None
    try:
        valence, arousal = (float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"VA must be two numbers V,A between 1 and 9 (e.g. 6.5,3.2), got {text!r}") from None
    problem = va_problem(valence, arousal)
    if problem:
        raise UserError(f"VA must be two numbers V,A between 1 and 9: {problem}")
    return valence, arousal


def parse_count(text: str, what: str, low: int, high: int) -> int | None:
    """A whole number in [low, high] from `text`; an empty text -> None."""
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{what} must be a whole number, got {text!r}") from None
    if not low <= value <= high:
        raise UserError(f"{what} must lie in {low}-{high}, got {value}")
    return value


def piece_request(data: bytes, name: str, fields: dict[str, str], limit: int) -> PieceRequest:
    """A PieceRequest from an upload's bytes, its file name and the form's text fields (`va`, `decoding`,
    `seed`, `tries`; each optional), or the first problem as a UserError."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1][:100] or "the upload"  # a name to show, not a path
    check_size(len(data), limit)
    suffix = picture_suffix(data, name)
    decoding = fields.get("decoding", "").strip() or "default"
    if decoding not in DECODINGS:
        raise UserError(f"decoding must be one of {', '.join(DECODINGS)}, got {decoding!r}")
    seed = parse_count(fields.get("seed", ""), "seed", 0, MAX_SEED)
    return PieceRequest(data, name, suffix, parse_va(fields.get("va", "")), decoding, seed or 0,
                        parse_count(fields.get("tries", ""), "tries", 1, MAX_TRIES))
