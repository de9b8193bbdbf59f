"""What every data source returns: labelled items, skipped files and warnings.

Valence and arousal are on the 1-9 scale the paper normalises both modalities
to (Section 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

VA_MIN, VA_MAX = 1.0, 9.0


@dataclass(frozen=True)
class Item:
    """One music piece or image: a real file and its valence/arousal (1-9)."""

    id: str
    path: Path
    valence: float
    arousal: float


@dataclass(frozen=True)
class Skipped:
    """A file or label row that a source left out, and why (shown in the summary and skipped.csv)."""

    item: str
    reason: str


@dataclass(frozen=True)
class SourceResult:
    """The usable items of a source (sorted by id), what it skipped, and warnings about its labels.

    A music source that is already tokenised and pairs songs with images itself (the authors' data)
    also gives `tokens` (item id -> token sequence, used as published) and `songs` (item id -> the
    song it holds: items that share a song are one song's training pairs).
    """

    items: list[Item]
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tokens: dict[str, tuple[str, ...]] | None = None
    songs: dict[str, str] | None = None


def va_problem(valence: float, arousal: float) -> str | None:
    """Why a valence/arousal pair is unusable (not a number in 1-9), or None."""
    for name, value in (("valence", valence), ("arousal", arousal)):
        if not isinstance(value, (int, float)) or value != value:
            return f"{name} {value!r} is not a number"
        if not VA_MIN <= value <= VA_MAX:
            return f"{name} {value} is outside {VA_MIN:g}-{VA_MAX:g}"
    return None


def parse_float(text) -> float | None:
    """`text` as a float, or None when it is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None
