"""Music files from pictures: a trained run decodes (`decode.generate_tokens`) and the pieces are written.

`music_from_images` runs a trained run folder on picture files and writes, per
picture, a MIDI file, a WAV (FluidSynth) and a piano-roll PNG, plus summary.json
with the tokens and the valence/arousal of picture and music: all of them or,
when it fails or is interrupted, none (`files.staged_files`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from img2music_tf import render
from img2music_tf.conditioning import net_inputs
from img2music_tf.data.checks import check_images
from img2music_tf.decode import GenerationConfig, compiled_step, generate_tokens, picture_stream
from img2music_tf.errors import UserError
from img2music_tf.files import output_dir, staged_files, write_json
from img2music_tf.models.va_predictor import EXTRAPOLATED, VAPredictor, extrapolated, marked
from img2music_tf.pretrained import va_predictor_folder
from img2music_tf.run_folder import Run, load_run
from img2music_tf.tokens import tokens_to_notes, write_midi

SUMMARY_FILE = "summary.json"
PIANO_ROLL_SUFFIX = "-pianoroll.png"  # never the picture's own name, even when --out is the picture's folder


@dataclasses.dataclass(frozen=True)
class Piece:
    """One generated piece: its picture, tokens, files, and the VA of both when known (1-9 scale)."""

    image: Path | None  # None: a piece asked for by its VA alone (`music_from_images` without pictures)
    tokens: tuple[str, ...]
    n_notes: int  # notes sounding in the MIDI (a chord counts each of its notes)
    midi: Path
    wav: Path | None
    piano_roll: Path
    image_va: tuple[float, float] | None = None
    music_va: tuple[float, float] | None = None
    image_va_estimated: bool = False  # image_va is the image VA regressor's estimate, not a given value
    expressed_va: tuple[float, float] | None = None  # the VA a VA-conditioned run was asked to express

    @property
    def name(self) -> str:
        """The picture's file name, or what the piece was asked for without one."""
        return self.image.name if self.image else f"V {self.expressed_va[0]:g} A {self.expressed_va[1]:g}"

    def to_dict(self) -> dict:
        return {
            "image": str(self.image) if self.image else None,
            "midi": self.midi.name,
            "wav": self.wav.name if self.wav else None,
            "piano_roll": self.piano_roll.name,
            "n_tokens": len(self.tokens),
            "n_notes": self.n_notes,
            "tokens": list(self.tokens),
            "image_va": list(self.image_va) if self.image_va else None,
            "image_va_estimated": self.image_va_estimated,
            "music_va": list(self.music_va) if self.music_va else None,
            "expressed_va": list(self.expressed_va) if self.expressed_va else None,
        }


def output_stems(paths: list[Path]) -> list[str]:
    """File stems for the outputs: the picture's stem, numbered when two pictures share one."""
    stems = [path.stem for path in paths]
    return [f"{i:03d}-{stem}" if stems.count(stem) > 1 else stem for i, stem in enumerate(stems)]


def music_from_images(
    run_dir,
    images,
    out_dir,
    generation: dict | GenerationConfig | None = None,
    image_va=None,
    image_va_estimated=None,
    va=None,
    va_predictor_dir=None,
    wav: bool = True,
    progress: bool = True,
    overwrite: bool = False,
) -> list[Piece]:
    """Generate a piece per picture with the trained run `run_dir` (its folder, or a `Run` already loaded);
    write .mid/.wav/.png and summary.json.

    `generation` overrides GenerationConfig fields (max_len defaults to the run's;
    prefixes are always padded to the run's max_len, as in its training).
    `image_va` lists each picture's known (valence, arousal) or None, `image_va_estimated` which of them
    are estimates (`image_va.with_estimates`). A VA-conditioned run (not in the paper) expresses `va` (one
    (valence, arousal) for every piece) or else each picture's VA; with `va` and no pictures, it makes one
    piece from that VA alone (a run whose net reads no image feature). The music's VA
    comes from the predictor in `va_predictor_dir`, else the one the run was trained
    with (if its folder still exists), else it is left out. The files are written into a
    hidden folder inside `out_dir` and moved into place at the end (summary.json last), so
    a failed or interrupted call leaves none of them, nor an `out_dir` it created. An `out_dir` that holds
    an earlier set (its summary.json) is refused unless `overwrite`, which replaces that set whole.
    """
    images = check_images(images) if images else []
    image_va = list(image_va) if image_va is not None else [None] * len(images)
    if len(image_va) != len(images):
        raise UserError(f"{len(image_va)} image VA values for {len(images)} images: give one per image")
    image_va_estimated = list(image_va_estimated or [False] * len(images))
    earlier = earlier_set(out_dir)
    if earlier is not None and not overwrite:
        raise UserError(f"{out_dir} already holds generated music ({SUMMARY_FILE}): use --force to replace it, "
                        "or another --out")
    with output_dir(out_dir) as out_dir, staged_files(out_dir, last=SUMMARY_FILE) as staging, known_retracing():
        run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
        if not isinstance(generation, GenerationConfig):
            generation = GenerationConfig(**{"max_len": run.config.max_len, **(generation or {})})
        recorded = run.info.va_predictor
        if va_predictor_dir is None and recorded and Path(recorded).is_dir():
            va_predictor_dir = recorded
        if va_predictor_dir is None:
            va_predictor_dir = va_predictor_folder()  # the small one shipped in the package, if there is one
        predictor = load_va_predictor(va_predictor_dir)

        expressed = expressed_va(run.config, len(images), image_va, va)  # one (V, A) per piece, or None
        if images:
            inputs = run.net_inputs(images, expressed, progress=progress)  # (N, F[+2])
            streams, stems = [picture_stream(image) for image in images], output_stems(images)
        else:  # the VA alone: the net reads no image feature, zeros stand in its place
            inputs = net_inputs(np.zeros((1, run.config.image_dim), "float32"), expressed, run.config)  # (1, F + 2)
            streams, stems = [va_stream(va)], [f"va-{va[0]:g}-{va[1]:g}"]
            images, image_va, image_va_estimated = [None], [None], [False]
        sequences = generate_tokens(compiled_step(run.model), inputs, run.vocabulary, generation,
                                    prefix_len=run.config.max_len, progress=progress, streams=streams)

        pieces = []
        bar = tqdm(list(zip(images, stems, sequences, image_va, image_va_estimated, expressed or [None] * len(stems))),
                   desc="writing music", unit="piece", disable=None if progress else True)  # None: no bar off a terminal
        for image, stem, tokens, known_va, estimated, asked in bar:
            midi = write_midi(tokens, staging / f"{stem}.mid")
            wav_path = render.write_wav(midi, staging / f"{stem}.wav") if wav else None
            png = render.write_piano_roll(midi, staging / f"{stem}{PIANO_ROLL_SUFFIX}",
                                          title=f"music from {image.name}" if image else
                                          f"music for valence {asked[0]:g}, arousal {asked[1]:g}")
            music_va = tuple(float(v) for v in predictor.predict_midi([midi])[0]) if predictor else None
            n_notes = len(tokens_to_notes(tokens))
            known_va = tuple(known_va) if known_va else None
            placed = [None if path is None else out_dir / path.name for path in (midi, wav_path, png)]
            pieces.append(Piece(image, tuple(tokens), n_notes, *placed, known_va, music_va, estimated,
                                tuple(asked) if asked else None))

        write_json(staging / SUMMARY_FILE, {
            "run": str(run.folder),
            "generation": dataclasses.asdict(generation),
            "va_predictor": str(va_predictor_dir) if predictor else None,
            "pieces": [piece.to_dict() for piece in pieces],
        })
    if earlier:  # remove the earlier set's files that this one did not replace
        written = {path.name for piece in pieces for path in (piece.midi, piece.wav, piece.piano_roll) if path}
        for name in earlier - written:
            (out_dir / name).unlink(missing_ok=True)
    return pieces


def expressed_va(config, n_pictures: int, image_va: list, va) -> list | None:
    """The (valence, arousal) each piece expresses: for a VA-conditioned run `va` for every piece (one piece
    without pictures) or else each picture's VA; None for a run that reads no VA (the paper's), which may not be
    asked for one (UserError), nor for music without a picture."""
    if not config.va_conditioned:
        if va is not None:
            raise UserError(f"this run ({config.name}) is not conditioned on valence and arousal, so --va cannot "
                            "steer it: train a run of Trans_enc3_dec3_VA_Cond or Trans_enc3_dec3_VA_Cond_NoImage")
        if not n_pictures:
            raise UserError("give at least one picture")
        return None
    if not n_pictures:
        if va is None:
            raise UserError("give at least one picture, or --va V,A")
        if config.va_condition != "without_image":
            raise UserError(f"this run ({config.name}) also reads the picture: give one, or use a run of "
                            "Trans_enc3_dec3_VA_Cond_NoImage to make music from --va alone")
        return [tuple(va)]
    return [tuple(va)] * n_pictures if va is not None else image_va


def va_stream(va) -> int:
    """The random stream of a piece asked for by its VA alone (`decode.picture_stream` of a picture)."""
    return int.from_bytes(hashlib.sha256(f"va {va[0]:g},{va[1]:g}".encode()).digest()[:8], "big")


def earlier_set(out_dir) -> set[str] | None:
    """The names of the files an earlier call wrote into `out_dir` (from its summary.json), or None if none did."""
    summary = Path(out_dir) / SUMMARY_FILE
    if not summary.is_file():
        return None
    try:
        pieces = json.loads(summary.read_text(encoding="utf-8"))["pieces"]
        return {piece[key] for piece in pieces for key in ("midi", "wav", "piano_roll")
                if isinstance(piece.get(key), str) and piece[key] == Path(piece[key]).name}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # damaged: replace it, remove nothing else
        return set()


def _not_retracing(record: logging.LogRecord) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def known_retracing():
    """Hide TensorFlow's "N out of the last M calls ... triggered tf.function retracing" warning. Its count is
    shared by every Keras model's predict function, and here each net traces it at most twice (the CNN for a
    short last batch, the decoder for a second prefix length, `batches.BUCKET`), so a process that traced other
    models first (the demo, after training) is warned about these few, expected traces."""
    logger = logging.getLogger("tensorflow")
    logger.addFilter(_not_retracing)
    try:
        yield
    finally:
        logger.removeFilter(_not_retracing)


def load_va_predictor(directory):
    """The music VA predictor in `directory`, or None when no folder is given."""
    if directory is None:
        return None
    return VAPredictor.load(directory)


def print_pieces(pieces: list[Piece], out_dir: Path) -> None:
    """One line per piece: files and VA (music predicted, marked '*' outside 1-9; image known or estimated), then
    where the summary is."""
    def va(pair, mark):
        return f"V {mark(pair[0])} A {mark(pair[1])}" if pair else "-"

    for piece in pieces:
        asked = f" | expresses {va(piece.expressed_va, '{:g}'.format)}" if piece.expressed_va else ""
        print(f"{piece.name}: {piece.midi.name}, {len(piece.tokens)} tokens, {piece.n_notes} notes | "
              f"music VA {va(piece.music_va, marked)} | image VA {va(piece.image_va, '{:.2f}'.format)}"
              f"{' (estimated)' if piece.image_va_estimated else ''}{asked}")
    if any(extrapolated(value) for piece in pieces for value in piece.music_va or ()):
        print(EXTRAPOLATED)
    if pieces and pieces[0].music_va is None:
        print("music VA -: no music VA predictor (this installation ships none and the run names none); "
              "pass --va-predictor DIR (`img2music va train` makes one)")
    print(f"wrote {len(pieces)} piece(s) (.mid, {'.wav, ' if pieces and pieces[0].wav else ''}.png) "
          f"and {SUMMARY_FILE} to {out_dir}")
