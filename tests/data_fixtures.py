"""Tiny data files for the data tests: MIDI, EIMG-style zip + labels.xlsx, Emotion6-style zip, odd images."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def write_midi(path: Path, pitches=(60, 64, 67), notes: bool = True) -> Path:
    """A one-track piano MIDI with one quarter note per pitch (or none)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    if notes:
        piano.notes = [pretty_midi.Note(80, p, 0.5 * i, 0.5 * (i + 1)) for i, p in enumerate(pitches)]
    midi.instruments.append(piano)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write(str(path))
    return path


def write_labels_xlsx(path: Path, rows: list[tuple], formulas: bool = False) -> Path:
    """labels.xlsx like EIMG's: two header rows; rows are (file name, 12 raw ratings, valence mean, arousal mean).

    With `formulas`, the mean cells hold AVERAGE formulas without cached values (as openpyxl saves them).
    """
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    first = ["File name"]
    for n in range(1, 7):
        first += [f"Annotator{n}", None]
    sheet.append(first + ["Results", None])
    sheet.append([None] + ["Valence", "Arousal"] * 6 + ["Valence_Mean", "Arousal_Mean"])
    for number, (name, *raw, valence, arousal) in enumerate(rows, start=3):
        if formulas:
            valence = f"=AVERAGE(B{number},D{number},F{number},H{number},J{number},L{number})"
            arousal = f"=AVERAGE(C{number},E{number},G{number},I{number},K{number},M{number})"
        sheet.append([name, *raw, valence, arousal])
    workbook.save(path)
    return path


def make_eimg(folder: Path, formulas: bool = False) -> Path:
    """An EIMG-style folder: dataset.zip (4 good MIDI, 1 broken, 1 unlabelled) and labels.xlsx (one row without MIDI)."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / "staging"
    for n, pitches in enumerate([(60, 64), (62, 65), (57, 60, 64), (55, 59)], start=1):
        write_midi(staging / f"{n:04d}.mid", pitches)
    (staging / "0005.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    write_midi(staging / "0007.mid")
    with zipfile.ZipFile(folder / "dataset.zip", "w") as archive:
        for path in sorted(staging.iterdir()):
            archive.write(path, f"dataset/{path.name}")
    ratings = [7, 8, 8, 7, 8, 7, 6, 7, 8, 8, 7, 8]  # means 7.333, 7.5
    rows = [
        ("0001.mid", *ratings, 7.33333333333333, 7.5),
        ("0002.mid", 3, 4, 5, 2, 4, 6, 4, 3, 4, 7, 5, 7, 4.16666666666667, 4.83333333333333),
        ("0003.mid", 3, "0", 5, 2, 4, 6, 4, 3, 4, 7, 5, 7, 4.16666666666667, 4.6),  # typo '0'
        ("0004.mid", 2, 4, 10, 6, "4`", 6, 4, 6, 4, 9, 4, 7, 3.2, 6.33333333333333),  # typos 10 and '4`'
        ("0005.mid", *ratings, 7.33333333333333, 7.5),
        ("0006.mid", *ratings, 7.33333333333333, 7.5),  # no MIDI file
    ]
    write_labels_xlsx(folder / "labels.xlsx", rows, formulas)
    return folder


def write_image(path: Path, mode: str = "RGB", fmt: str = "JPEG", colour=(200, 30, 30)) -> Path:
    """A 16x16 image in `mode`, saved as `fmt` whatever the suffix of `path`."""
    image = Image.new("RGB", (16, 16), colour)
    if mode == "RGBA":
        image = image.convert("RGBA")
        image.putalpha(Image.fromarray(np.tile(np.arange(16, dtype=np.uint8) * 16, (16, 1))))
    elif mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


def make_emotion6(folder: Path) -> Path:
    """An Emotion6-style zip: 6 usable images (RGB, grayscale, CMYK, RGBA-as-PNG-named-.jpg, palette), 1 truncated,
    1 listed but missing, 1 with arousal 12."""
    root = folder / "Emotion6"
    images = root / "images"
    write_image(images / "joy" / "1.jpg")
    write_image(images / "joy" / "2.jpg", mode="L")
    write_image(images / "fear" / "1.jpg", mode="CMYK")
    write_image(images / "fear" / "2.jpg", mode="RGBA", fmt="PNG")
    write_image(images / "anger" / "1.jpg", mode="P", fmt="PNG")
    write_image(images / "anger" / "2.jpg", colour=(10, 10, 10))
    broken = write_image(images / "sadness" / "1.jpg").read_bytes()
    (images / "sadness" / "1.jpg").write_bytes(broken[: len(broken) // 3])
    write_image(images / "sadness" / "3.jpg")
    lines = [
        "[image_filename]\t[valence]\t[arousal]\t[prob. anger]",
        "joy/1.jpg\t8\t4.5\t0", "joy/2.jpg\t7.2\t5.1\t0", "fear/1.jpg\t2.8\t6.8\t0", "fear/2.jpg\t3.1\t6.0\t0",
        "anger/1.jpg\t4.6\t4.5\t0", "anger/2.jpg\t5.0\t5.0\t0", "sadness/1.jpg\t2.7\t5.2\t0",
        "sadness/2.jpg\t2.0\t3.0\t0", "sadness/3.jpg\t2.0\t12\t0",
    ]
    (root / "ground_truth.txt").write_text("\n".join(lines) + "\n")
    archive_path = folder / "Emotion6.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for path in sorted(root.rglob("*")):
            archive.write(path, path.relative_to(folder).as_posix())
    return archive_path
