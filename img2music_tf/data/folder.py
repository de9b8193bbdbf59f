"""Your own data: a CSV with `path,valence,arousal` (1-9) naming music (MIDI) or image files.

Paths are relative to the CSV's folder (or absolute). `source` is the CSV or a
folder holding exactly one CSV. Item ids are the paths without suffix. `kind`
says what the files must be ("music" or "image"); by default each file's
suffix decides (.mid/.midi is music, anything else an image).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from tqdm import tqdm

from img2music_tf.data import checks
from img2music_tf.data.items import Item, Skipped, SourceResult, parse_float, va_problem
from img2music_tf.errors import UserError
from img2music_tf.paths import SOURCES

ENV_VAR = SOURCES["folder"].env_var
COLUMNS = ("path", "valence", "arousal")
KINDS = ("music", "image")
MIDI_SUFFIXES = (".mid", ".midi")


def load(source: str | Path | None = None, kind: str | None = None) -> SourceResult:
    """Items listed in a `path,valence,arousal` CSV; bad rows and unusable files are skipped with a reason."""
    if kind not in (None, *KINDS):
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    table = _find_csv(source)
    rows = _read_rows(table)
    items: list[Item] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for line, row in enumerate(tqdm(rows, desc=f"folder: checking {table.name}", unit="file", disable=None), 2):
        relative = (row["path"] or "").strip()
        item_id = Path(relative).with_suffix("").as_posix()
        valence, arousal = parse_float(row["valence"]), parse_float(row["arousal"])
        path = table.parent / relative
        is_music = path.suffix.lower() in MIDI_SUFFIXES if kind is None else kind == "music"
        problem = va_problem(valence, arousal)
        if not relative:
            skipped.append(Skipped(f"{table.name} line {line}", "empty path"))
        elif item_id in seen:
            skipped.append(Skipped(item_id, f"{table.name} line {line}: listed twice"))
        elif problem:
            skipped.append(Skipped(item_id, f"{table.name} line {line}: {problem}"))
        elif not path.is_file():
            skipped.append(Skipped(item_id, f"{table.name} line {line}: file {relative} not found"))
        else:
            seen.add(item_id)
            try:
                if is_music:
                    checks.check_midi(path)
                else:
                    path = checks.rgb_image(path)
                items.append(Item(item_id, path, valence, arousal))
            except checks.UnusableFile as error:
                skipped.append(Skipped(item_id, str(error)))
    return SourceResult(sorted(items, key=lambda item: item.id), skipped)


def _read_rows(table: Path) -> list[dict]:
    """The rows of a UTF-8 `path,valence,arousal` CSV; a UserError for another encoding, binary bytes, no header."""
    try:
        with open(table, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{table}: missing column(s) {', '.join(missing)}; expected header path,valence,arousal")
            rows = list(reader)
    except UnicodeDecodeError as error:
        raise UserError(f"{table} is not UTF-8 text (byte {error.start} of the file): save the CSV as UTF-8") from None
    except csv.Error as error:
        raise UserError(f"{table} is not a CSV text file ({error})") from None
    return rows


def _find_csv(source: str | Path | None) -> Path:
    if source is None:
        source = os.environ.get(ENV_VAR) or None
    if source is None:
        raise UserError(f"the folder source needs a CSV: pass --music-source/--image-source PATH or set {ENV_VAR}")
    path = Path(source).expanduser()
    if path.is_dir():
        tables = sorted(path.glob("*.csv"))
        if len(tables) != 1:
            raise UserError(f"{path} must hold exactly one .csv (path,valence,arousal); found {len(tables)}")
        path = tables[0]
    if not path.is_file():
        raise UserError(f"label file {path} not found")
    return path
