"""A small demo set that needs no download: music from music21's bundled corpus, images the project draws.

Music: the first 8 bars of Bach chorales and of folk tunes from Ryan's Mammoth
Collection (alternating, in file-name order), each written as a one-track
piano MIDI at a tempo drawn from a seeded RNG (60-160 bpm). Its VA follows
the best-replicated cues of the music-emotion literature (Hevner 1935-37;
Gabrielsson & Lindstrom 2010): major mode -> higher valence, minor -> lower;
faster tempo -> higher arousal (and somewhat higher valence); denser notes ->
higher arousal. With mode m = +1 (major) / -1 (minor; Krumhansl-Schmuckler key
finding on the excerpt's duration-weighted pitch classes, Krumhansl-Kessler profiles), t = clip((bpm - 110) / 50, -1, 1), d = clip((notes per second - 6) / 4, -1, 1):
    valence = 5 + 2.5 m + 1.0 t,    arousal = 5 + 2.5 t + 1.5 d.

Images: seeded colour gradients with random shapes. Their VA follows Valdez &
Mehrabian (1994) for brightness B and saturation S (mean HSV value and
saturation, 0-1): Pleasure = 0.69 B + 0.22 S, Arousal = -0.31 B + 0.60 S,
rescaled linearly so the possible range (P 0..0.91, A -0.31..0.60) maps to 1-9.

Item i is the same whatever `n` is (a prefix of a larger build), and a build
is cached in `cache_dir()/builtin-v1` (or `source`), with a labels.csv.
"""

from __future__ import annotations

import colorsys
import concurrent.futures
import csv
import io
import multiprocessing
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from img2music_tf import files, interrupts
from img2music_tf.data.items import Item, SourceResult
from img2music_tf.errors import UserError
from img2music_tf.paths import cache_dir

KINDS = ("music", "image")
BARS = 8
TEMPO_RANGE = (60, 160)
IMAGE_SIZE = 128
SEED = 20241029
LABELS = "labels.csv"
# Krumhansl & Kessler (1982) key profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def load(source: str | Path | None = None, kind: str = "music", n: int = 200) -> SourceResult:
    """The first `n` built-in music pieces or images (`kind`), built into `source` (default: the cache) on first use."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if n < 1:
        raise UserError(f"the built-in set needs n >= 1, got {n}")
    folder = Path(source).expanduser() if source is not None else cache_dir() / "builtin-v1"
    folder = folder / kind
    rows = _read_labels(folder)
    if len(rows) < n or not all((folder / row["file"]).is_file() for row in rows[:n]):
        rows = _build_music(folder, n) if kind == "music" else _build_images(folder, n)
        with files.atomic_path(folder / LABELS) as tmp:
            _write_csv(tmp, rows)
    items = [Item(r["id"], folder / r["file"], float(r["valence"]), float(r["arousal"])) for r in rows[:n]]
    return SourceResult(sorted(items, key=lambda item: item.id))


def music_va(major: bool, bpm: float, notes_per_second: float) -> tuple[float, float]:
    """(valence, arousal) from mode, tempo and note density (Hevner; Gabrielsson & Lindstrom 2010)."""
    mode = 1.0 if major else -1.0
    tempo = float(np.clip((bpm - 110.0) / 50.0, -1.0, 1.0))
    density = float(np.clip((notes_per_second - 6.0) / 4.0, -1.0, 1.0))
    return 5.0 + 2.5 * mode + 1.0 * tempo, 5.0 + 2.5 * tempo + 1.5 * density


def is_major(pitches: np.ndarray, durations: np.ndarray) -> bool:
    """Krumhansl-Schmuckler: whether the best-correlated of the 24 key profiles is a major key."""
    histogram = np.bincount(pitches % 12, weights=durations, minlength=12)  # (12,)
    if not histogram.any():
        return True
    best = {
        mode: max(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1] for tonic in range(12))
        for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE))
    }
    return best["major"] >= best["minor"]


def image_va(brightness: float, saturation: float) -> tuple[float, float]:
    """(valence, arousal) on 1-9 from mean brightness and saturation in 0-1 (Valdez & Mehrabian 1994)."""
    pleasure = 0.69 * brightness + 0.22 * saturation  # possible range 0 .. 0.91
    arousal = -0.31 * brightness + 0.60 * saturation  # possible range -0.31 .. 0.60
    return 1.0 + 8.0 * pleasure / 0.91, 1.0 + 8.0 * (arousal + 0.31) / 0.91


def corpus_pieces() -> list[tuple[str, Path]]:
    """(id, file) of the candidate pieces: Bach chorales and Ryan's Mammoth tunes, alternating."""
    from music21 import corpus

    chorales = sorted(p for p in corpus.getComposer("bach") if p.suffix == ".mxl")
    tunes = sorted(corpus.getWork("ryansMammoth"))
    pieces = []
    for chorale, tune in zip(chorales, tunes):
        pieces += [(f"bach-{chorale.stem}", chorale), (f"ryans-{tune.stem}", tune)]
    return pieces


def _build_music(folder: Path, n: int) -> list[dict]:
    """Write the first `n` usable corpus excerpts as MIDI (2 worker processes); their label rows."""
    pieces = corpus_pieces()
    rows: list[dict] = []
    start = 0
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context,
                                                initializer=interrupts.ignored_in_worker) as pool:
        with tqdm(total=n, desc="builtin: writing music", unit="piece", disable=None) as bar:
            while len(rows) < n and start < len(pieces):
                batch = pieces[start : start + n - len(rows) + 4]
                start += len(batch)
                for row in pool.map(_music_piece, batch, [folder] * len(batch)):
                    if row is not None and len(rows) < n:
                        rows.append(row)
                        bar.update()
    if len(rows) < n:
        raise UserError(f"the built-in corpus has only {len(rows)} usable pieces; ask for n <= {len(rows)}")
    return rows


def _music_piece(piece: tuple[str, Path], folder: Path) -> dict | None:
    """Write the first BARS bars of one corpus piece as piano MIDI; its label row, or None if unusable."""
    import pretty_midi
    from music21 import converter

    piece_id, path = piece
    try:
        score = converter.parse(path)
        signature = score.recurse().getElementsByClass("TimeSignature").first()
        bar = float(signature.barDuration.quarterLength) if signature else 4.0
    except Exception:  # noqa: BLE001 - a corpus file music21 cannot read is just not used
        return None
    notes = [
        (float(n.offset), float(n.quarterLength), p.midi)
        for n in score.flatten().notes
        if n.offset < BARS * bar and n.quarterLength > 0
        for p in n.pitches
    ]
    if not notes:
        return None
    bpm = float(np.random.default_rng([SEED, zlib.crc32(piece_id.encode())]).integers(*TEMPO_RANGE, endpoint=True))
    beat = 60.0 / bpm
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    if signature:
        midi.time_signature_changes.append(pretty_midi.TimeSignature(signature.numerator, signature.denominator, 0))
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, pitch, on * beat, (on + length) * beat) for on, length, pitch in notes]
    midi.instruments.append(piano)
    seconds = max(note.end for note in piano.notes)
    target = folder / f"{piece_id}.mid"
    with files.atomic_path(target) as tmp:
        midi.write(str(tmp))
    _, lengths, pitches = np.array(notes).T  # (3, N)
    major = is_major(pitches.astype(int), lengths)
    valence, arousal = music_va(major, bpm, len(notes) / seconds)
    return {
        "id": piece_id, "file": target.name, "valence": round(valence, 4), "arousal": round(arousal, 4),
        "mode": "major" if major else "minor", "bpm": bpm, "notes_per_second": round(len(notes) / seconds, 3),
        "corpus_file": path.name,
    }


def _build_images(folder: Path, n: int) -> list[dict]:
    """Draw `n` seeded images as PNG; their label rows."""
    rows = []
    for index in tqdm(range(n), desc="builtin: drawing images", unit="image", disable=None):
        image = draw_image(index)
        hsv = np.asarray(image.convert("HSV"), dtype=np.float64) / 255.0  # (H, W, 3)
        brightness, saturation = float(hsv[..., 2].mean()), float(hsv[..., 1].mean())
        valence, arousal = image_va(brightness, saturation)
        target = folder / f"img{index:04d}.png"
        with files.atomic_path(target) as tmp:
            image.save(tmp, format="PNG")
        rows.append({
            "id": target.stem, "file": target.name, "valence": round(valence, 4), "arousal": round(arousal, 4),
            "brightness": round(brightness, 4), "saturation": round(saturation, 4),
        })
    return rows


def draw_image(index: int):
    """Image `index`: a two-colour gradient and 2-6 shapes around one hue, seeded by `index` (PIL RGB)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([SEED, index])
    hue, saturation, value = rng.uniform(), rng.uniform(0.0, 1.0), rng.uniform(0.1, 1.0)

    def colour(spread: float) -> tuple[int, int, int]:
        h = (hue + rng.uniform(-spread, spread)) % 1.0
        s = float(np.clip(saturation + rng.normal(0, 0.15), 0, 1))
        v = float(np.clip(value + rng.normal(0, 0.15), 0, 1))
        return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))

    top, bottom = np.array(colour(0.1), float), np.array(colour(0.1), float)
    ramp = np.linspace(0.0, 1.0, IMAGE_SIZE)[:, None, None]  # (H, 1, 1)
    pixels = np.broadcast_to(top + ramp * (bottom - top), (IMAGE_SIZE, IMAGE_SIZE, 3))  # (H, W, 3)
    image = Image.fromarray(np.ascontiguousarray(pixels).astype(np.uint8), "RGB")
    if rng.uniform() < 0.5:
        image = image.transpose(Image.Transpose.ROTATE_90)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = rng.integers(0, IMAGE_SIZE, 2)
        w, h = rng.integers(IMAGE_SIZE // 8, IMAGE_SIZE // 2, 2)
        box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
        (draw.ellipse if rng.uniform() < 0.5 else draw.rectangle)(box, fill=colour(0.2))
    return image


def _read_labels(folder: Path) -> list[dict]:
    path = folder / LABELS
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
