"""Emotion6 images: 1980 Flickr photos rated for valence and arousal on 1-9 (Peng et al., CVPR 2015).

The archive holds `Emotion6/images/<emotion>/<n>.jpg` and `ground_truth.txt`
(tab-separated, one header row: image path relative to images/, valence,
arousal, then 7 emotion probabilities). Academic research use only. Item ids
are the relative path without suffix, '/' replaced by '_' (e.g. `joy_12`).
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from img2music_tf import files
from img2music_tf.data import checks, download
from img2music_tf.data.items import Item, Skipped, SourceResult, parse_float, va_problem
from img2music_tf.errors import UserError
from img2music_tf.paths import SOURCES

ENV_VAR = SOURCES["emotion6"].env_var
ARCHIVE = download.Remote(
    "Emotion6.zip", "http://chenlab.ece.cornell.edu/people/kuanchuan/publications/Emotion6.zip", None, ENV_VAR
)
KNOWN_SHA256 = {
    "32a1c4affa29e32d7279040c4739de366b6e2097af508ad461b8c8e1e2ae3c45": "Emotion6-320px.zip (images downscaled to 320 px)",
}
GROUND_TRUTH = "ground_truth.txt"


def load(source: str | Path | None = None) -> SourceResult:
    """Emotion6 image items from `source` (the zip or an extracted folder), $IMG2MUSIC_EMOTION6_SOURCE, or a download."""
    warnings: list[str] = []
    local = download.local_or_env(source, ENV_VAR)
    if local is not None and local.is_dir() and not (local / ARCHIVE.name).exists():
        root = local
    else:
        archive = download.fetch(ARCHIVE) if local is None else download.find_local(ARCHIVE, local, warnings)
        digest = files.sha256(archive)
        if digest not in KNOWN_SHA256:
            warnings.append(f"{archive.name} sha256 {digest} is not a known Emotion6 archive; using it as given")
        root = download.extract_zip(archive, "emotion6")
    truth = sorted(root.rglob(GROUND_TRUTH))
    if not truth:
        raise UserError(f"no {GROUND_TRUTH} found in {root}")
    images_dir = truth[0].parent / "images"
    items: list[Item] = []
    skipped: list[Skipped] = []
    for line_number, relative, valence, arousal in tqdm(
        _read_ground_truth(truth[0]), desc="emotion6: checking images", unit="image", disable=None
    ):
        item_id = Path(relative).with_suffix("").as_posix().replace("/", "_")
        problem = va_problem(valence, arousal)
        path = images_dir / relative
        if problem:
            skipped.append(Skipped(item_id, f"{GROUND_TRUTH} line {line_number}: {problem}"))
        elif not path.is_file():
            skipped.append(Skipped(item_id, f"listed in {GROUND_TRUTH} but {path.name} is missing"))
        else:
            try:
                items.append(Item(item_id, checks.rgb_image(path), valence, arousal))
            except checks.UnusableFile as error:
                skipped.append(Skipped(item_id, str(error)))
    return SourceResult(sorted(items, key=lambda item: item.id), skipped, warnings)


def _read_ground_truth(path: Path) -> list[tuple[int, str, float | None, float | None]]:
    """(line number, image path, valence, arousal) of each data line; the header line is skipped."""
    rows = []
    for line_number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        fields = line.split("\t") if "\t" in line else line.split()
        if line_number == 1 or not fields or not fields[0].strip():
            continue
        fields += [""] * (3 - len(fields))
        rows.append((line_number, fields[0].strip(), parse_float(fields[1]), parse_float(fields[2])))
    return rows
