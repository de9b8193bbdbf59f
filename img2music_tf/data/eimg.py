"""EIMG music: 3000 piano MIDI files with valence/arousal means (Wang et al. 2024; the paper's ref. [26]).

Files `Dataset/dataset.zip` (`dataset/0001.mid`..`3000.mid`) and
`Dataset/labels.xlsx` of github.com/zBaymax/EIMG. labels.xlsx has two header
rows: row 1 names `File name`, `Annotator1`..`Annotator6`, `Results`; row 2
says `Valence`/`Arousal` under each and `Valence_Mean`/`Arousal_Mean` under
`Results` (columns N/O, already 1-9). The means are used as published; raw
ratings outside 1-9 (typos such as '0', '10', '4`') are reported as warnings.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from img2music_tf.data import checks, download
from img2music_tf.data.items import Item, Skipped, SourceResult, parse_float, va_problem
from img2music_tf.errors import UserError
from img2music_tf.paths import SOURCES

ENV_VAR = SOURCES["eimg"].env_var
_BASE = "https://github.com/zBaymax/EIMG/raw/main/Dataset"
DATASET = download.Remote(
    "dataset.zip", f"{_BASE}/dataset.zip", "df0ce0e2eb01d63eb1ca0c83866cca9d94f91df1109a8062dfb9d1b9627cdfad",
    ENV_VAR,
)
LABELS = download.Remote(
    "labels.xlsx", f"{_BASE}/labels.xlsx", "fc560398d356d73fb741974b8ce11aa1ca018bae7ec31ed8f11e9c21e8a4dca4",
    ENV_VAR,
)
MIDI_SUFFIXES = (".mid", ".midi")


def load(source: str | Path | None = None) -> SourceResult:
    """EIMG music items from `source` (folder with dataset.zip + labels.xlsx, or the zip), $IMG2MUSIC_EIMG_SOURCE, or a download."""
    warnings: list[str] = []
    local = download.local_or_env(source, ENV_VAR)
    if local is None:
        zip_path, labels_path = download.fetch(DATASET), download.fetch(LABELS)
        midi_root = download.extract_zip(zip_path, "eimg")
    else:
        folder = local if local.is_dir() else local.parent
        labels_path = download.find_local(LABELS, folder, warnings)
        if local.is_dir() and not (local / DATASET.name).exists():
            midi_root = local  # an already extracted dataset folder
        else:
            midi_root = download.extract_zip(download.find_local(DATASET, local, warnings), "eimg")
    labels, skipped, label_warnings = read_labels(labels_path)
    warnings += label_warnings
    items: list[Item] = []
    seen: set[str] = set()
    midi_paths = sorted(p for p in midi_root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES)
    if not midi_paths:
        raise UserError(f"no MIDI files found in {midi_root}")
    for path in tqdm(midi_paths, desc="eimg: checking MIDI", unit="file", disable=None):
        item_id = path.stem
        if item_id in seen:
            skipped.append(Skipped(item_id, f"duplicate file name {path.name}"))
            continue
        seen.add(item_id)
        if item_id not in labels:
            skipped.append(Skipped(item_id, "no row in labels.xlsx"))
            continue
        try:
            checks.check_midi(path)
        except checks.UnusableFile as error:
            skipped.append(Skipped(item_id, str(error)))
            continue
        items.append(Item(item_id, path, *labels[item_id]))
    skipped += [Skipped(i, "in labels.xlsx but no MIDI file") for i in sorted(labels.keys() - seen)]
    return SourceResult(items, skipped, warnings)


def read_labels(path: Path) -> tuple[dict[str, tuple[float, float]], list[Skipped], list[str]]:
    """Valence/arousal means by id ('0001') from labels.xlsx, rows skipped, and warnings about raw ratings."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = list(workbook.active.iter_rows(values_only=True))
        workbook.close()
    except Exception as error:  # noqa: BLE001 - openpyxl raises many types on damaged files
        raise UserError(f"cannot read {path} as an Excel workbook ({type(error).__name__}: {error})") from None
    if len(rows) < 3:
        raise UserError(f"{path} has no label rows under its two header rows")
    names, kinds = [_text(c) for c in rows[0]], [_text(c) for c in rows[1]]
    try:
        v_col, a_col = kinds.index("Valence_Mean"), kinds.index("Arousal_Mean")
    except ValueError:
        raise UserError(f"{path}: no Valence_Mean/Arousal_Mean columns in its second header row") from None
    annotator, raw_columns = "", []  # (column, annotator, "Valence"/"Arousal") of the raw ratings
    for col in range(1, min(v_col, a_col)):
        annotator = names[col] or annotator
        if kinds[col] in ("Valence", "Arousal"):
            raw_columns.append((col, annotator, kinds[col]))
    labels: dict[str, tuple[float, float]] = {}
    skipped: list[Skipped] = []
    warnings: list[str] = []
    computed = 0
    for row_number, row in enumerate(rows[2:], start=3):
        row = tuple(row) + (None,) * (len(kinds) - len(row))
        name = _text(row[0])
        if not name:
            continue
        item_id = Path(name).stem
        valid: dict[str, list[float]] = {"Valence": [], "Arousal": []}
        for col, who, kind in raw_columns:
            rating = row[col]
            if isinstance(rating, (int, float)) and not isinstance(rating, bool) and 1 <= rating <= 9:
                valid[kind].append(float(rating))
            else:
                warnings.append(f"labels.xlsx row {row_number} ({name}): {who} {kind} rating {rating!r} is not 1-9")
        means = []
        for col, kind in ((v_col, "Valence"), (a_col, "Arousal")):
            value = parse_float(row[col])
            if value is None and valid[kind]:  # a formula cell saved without its cached value
                value, computed = sum(valid[kind]) / len(valid[kind]), computed + 1
            means.append(value)
        problem = va_problem(*means)
        if problem:
            skipped.append(Skipped(item_id, f"labels.xlsx row {row_number}: {problem}"))
        elif item_id in labels:
            skipped.append(Skipped(item_id, f"labels.xlsx row {row_number}: second row for {name}"))
        else:
            labels[item_id] = (means[0], means[1])
    if computed:
        warnings.append(f"labels.xlsx: {computed} mean cells had no stored value; computed from the 1-9 raw ratings")
    return labels, skipped, warnings


def _text(cell) -> str:
    return "" if cell is None else str(cell).strip()
