"""EMID-style images: a manifest of image file names with Mikels emotion tags, and a folder of the images.

The paper took 4029 EMID images (ecnu-aigc/EMID, CC BY-NC-SA 4.0) and mapped
their Mikels tags to VA with the dictionary of ref. [28]. EMID's images are not
downloadable here, so the user supplies them. Accepted manifests: EMID's own
`EMID_data.csv` (columns `Image1_filename`, `Image1_tag` .. `Image3_*`; an
image listed several times counts once) or any CSV with `filename,tag`
columns. Tags map to VA with the Warriner et al. (2013) norms below.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from tqdm import tqdm

from img2music_tf.data import checks
from img2music_tf.data.items import Item, Skipped, SourceResult
from img2music_tf.errors import UserError
from img2music_tf.paths import SOURCES

ENV_VAR = SOURCES["emid"].env_var
MANIFEST = "EMID_data.csv"
# Mikels' 8 categories -> (valence, arousal), Warriner, Kuperman & Brysbaert (2013) norms, 1-9 scale.
MIKELS_VA = {
    "amusement": (7.00, 4.82),
    "anger": (2.50, 5.93),
    "awe": (6.85, 3.83),
    "contentment": (6.62, 4.60),
    "disgust": (3.32, 5.00),
    "excitement": (7.62, 6.21),
    "fear": (2.93, 6.14),
    "sadness": (2.40, 2.81),
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def tag_to_va(tag: str) -> tuple[float, float]:
    """(valence, arousal) of a Mikels tag; UserError naming the tag and the 8 known ones otherwise."""
    key = tag.strip().lower()
    if key not in MIKELS_VA:
        raise UserError(f"unknown emotion tag {tag!r}; known Mikels tags: {', '.join(MIKELS_VA)}")
    return MIKELS_VA[key]


def load(source: str | Path | None = None, image_dir: str | Path | None = None) -> SourceResult:
    """Image items from an EMID manifest (`source`: the CSV, or a folder holding EMID_data.csv).

    Images are looked up by file name anywhere under `image_dir` (default: the manifest's folder).
    """
    if source is None:
        source = os.environ.get(ENV_VAR) or None
    if source is None:
        raise UserError(
            "EMID images cannot be downloaded automatically: pass --image-source PATH "
            f"(an {MANIFEST} with the images in its folder) or set {ENV_VAR}"
        )
    manifest = Path(source).expanduser()
    if manifest.is_dir():
        manifest = manifest / MANIFEST
    if not manifest.is_file():
        raise UserError(f"EMID manifest {manifest} not found")
    image_root = Path(image_dir).expanduser() if image_dir is not None else manifest.parent
    tags, skipped = read_manifest(manifest)
    found = {p.name: p for p in sorted(image_root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES}
    items: list[Item] = []
    for name in tqdm(sorted(tags), desc="emid: checking images", unit="image", disable=None):
        item_id = Path(name).stem
        if name not in found:
            skipped.append(Skipped(item_id, f"listed in {manifest.name} but not found under {image_root}"))
            continue
        try:
            items.append(Item(item_id, checks.rgb_image(found[name]), *tag_to_va(tags[name])))
        except checks.UnusableFile as error:
            skipped.append(Skipped(item_id, str(error)))
    return SourceResult(items, skipped)


def read_manifest(path: Path) -> tuple[dict[str, str], list[Skipped]]:
    """Tag by image file name from the manifest (unknown tags raise); conflicting tags are skipped."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    columns = list(rows[0]) if rows else []
    pairs = [(f"Image{i}_filename", f"Image{i}_tag") for i in (1, 2, 3) if f"Image{i}_filename" in columns]
    if not pairs and {"filename", "tag"} <= set(columns):
        pairs = [("filename", "tag")]
    if not pairs:
        raise UserError(f"{path}: expected columns Image1_filename/Image1_tag (EMID) or filename,tag")
    tags: dict[str, str] = {}
    conflicts: set[str] = set()
    for row in rows:
        for name_column, tag_column in pairs:
            name, tag = (row.get(name_column) or "").strip(), (row.get(tag_column) or "").strip()
            if not name:
                continue
            tag_to_va(tag)
            if tags.setdefault(name, tag.lower()) != tag.lower():
                conflicts.add(name)
    skipped = [Skipped(Path(n).stem, f"tagged both {tags.pop(n)!r} and another tag") for n in sorted(conflicts)]
    return tags, skipped
