"""Music from pictures: autoregressive decoding of token sequences, batched over images, and the files.

The paper generates greedily: start from `<start>`, feed (image feature, token
prefix) to the model, append the most probable next token, stop at `<end>` or
at the maximum sequence length (236 tokens at paper scale; docs/fidelity.md,
row "generation"). Seeded temperature / top-k sampling is offered beside it.

All sequences of a batch step together: one model call per step for the whole
batch; a finished sequence stops growing. The padding id is never emitted.

`music_from_images` runs a trained run folder on picture files and writes, per
picture, a MIDI file, a WAV (FluidSynth) and a piano-roll PNG, plus summary.json
with the tokens and the valence/arousal of picture and music: all of them or,
when it fails or is interrupted, none (`files.staged_files`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from img2music_tf.batches import BUCKET, pad_prefixes, round_up
from img2music_tf.errors import UserError
from img2music_tf.files import check_input_file, output_dir, staged_files, write_json
from img2music_tf.vocabulary import PAD_ID

METHODS = ("greedy", "sample")
SUMMARY_FILE = "summary.json"
PIANO_ROLL_SUFFIX = "-pianoroll.png"  # never the picture's own name, even when --out is the picture's folder


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """How to pick each next token.

    method: "greedy" (argmax, the paper's method) or "sample" (from the
        temperature-scaled distribution, restricted to the `top_k` most
        probable tokens when top_k > 0).
    max_len: longest sequence in tokens, `<start>` and `<end>` included.
    seed: drives sampling only; greedy output does not depend on it.
    tries: seeds a sampled piece may use to get a note (`generate_tokens`): a piece with none is sampled
        again, alone, with seed + 1, seed + 2, ...; 1 = no second try. Greedy ignores it (same piece).
    """

    method: str = "greedy"
    temperature: float = 1.0
    top_k: int = 0
    max_len: int = 236
    seed: int = 0
    tries: int = 1

    def __post_init__(self):
        if self.method not in METHODS:
            raise UserError(f"generation method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.temperature <= 0:
            raise UserError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 0:
            raise UserError(f"top-k must be >= 0, got {self.top_k}")
        if self.max_len < 2:
            raise UserError(f"max-len must be >= 2 (room for <start> and one token), got {self.max_len}")
        if self.tries < 1:
            raise UserError(f"tries must be >= 1, got {self.tries}")


def next_token_ids(probs: np.ndarray, config: GenerationConfig, rngs) -> np.ndarray:
    """Pick one id per row of `probs` (B, V): argmax, or a seeded sample; never the padding id."""
    logits = np.log(np.maximum(np.asarray(probs, dtype="float64"), 1e-300))  # (B, V)
    logits[:, PAD_ID] = -np.inf
    if config.method == "greedy":
        return logits.argmax(axis=-1)
    logits /= config.temperature
    if 0 < config.top_k < logits.shape[1]:
        kth = np.sort(logits, axis=-1)[:, -config.top_k][:, None]  # (B, 1)
        logits = np.where(logits >= kth, logits, -np.inf)
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=-1, keepdims=True)  # (B, V)
    return np.array([rng.choice(weights.shape[1], p=row) for rng, row in zip(rngs, weights)])


def generate_ids(
    model,
    features: np.ndarray,
    start_id: int,
    end_id: int,
    config: GenerationConfig = GenerationConfig(),
    prefix_len: int | None = None,
    progress: bool = True,
    bucket: int | None = BUCKET,
) -> list[list[int]]:
    """Decode one id sequence per row of `features` (N, F), each starting with `start_id`.

    `model.predict_on_batch` maps {"image": (N, F), "tokens": (N, T)} to next-token
    probabilities (N, V); prefixes are left-padded (`batches.pad_prefixes`) to the
    longest one rounded up to `bucket` tokens, at most `prefix_len` (default
    `config.max_len`), and a longer sequence keeps its last `prefix_len` ids in view.
    Padding is masked, so this gives the probabilities of padding to `prefix_len`
    as the authors did (tested) at a fraction of the cost; `bucket=None` pads to
    `prefix_len` at every step. Every step is one call for all N rows: the batch
    keeps its shape, so the compiled predict function is traced once (dropping
    finished rows would retrace it at each new size, which costs more than the
    rows). A finished row (after `end_id`, or at `config.max_len` ids) stops
    growing. Sequence i samples from its own generator seeded by (seed, i), so
    it does not depend on the other rows.
    """
    features = np.asarray(features, dtype="float32")  # (N, F)
    length = prefix_len or config.max_len
    sequences = [[start_id] for _ in range(len(features))]
    rngs = [np.random.default_rng([config.seed, i]) for i in range(len(features))]
    running = np.arange(len(features))
    steps = tqdm(range(config.max_len - 1), desc="generate", unit="step", disable=not progress, leave=False)
    for _ in steps:
        if running.size == 0:
            break
        longest = max(len(sequence) for sequence in sequences)
        width = length if bucket is None else min(round_up(longest, bucket), length)
        tokens = pad_prefixes(sequences, width)  # (N, T)
        probs = np.asarray(model.predict_on_batch({"image": features, "tokens": tokens}))  # (N, V)
        picked = next_token_ids(probs[running], config, [rngs[i] for i in running])  # (R,)
        for i, token_id in zip(running, picked):
            sequences[i].append(int(token_id))
        running = np.array([i for i in running if sequences[i][-1] != end_id], dtype=int)
    steps.close()
    return sequences


@dataclasses.dataclass(frozen=True)
class CompiledStep:
    """A net's next-token probabilities as one TensorFlow function traced once for every batch size and prefix
    length: Keras' `predict_on_batch` traces again for the second prefix length and costs more per call than
    a step of a small net on a CPU. The same numbers (tested); `compiled_step` makes one."""

    function: object  # tf.function of {"image": (B, F), "tokens": (B, T)} -> (B, V)
    jit_compile: bool = False  # a plain tf.function, not XLA: decoding pads to buckets (`prefix_bucket`)

    def predict_on_batch(self, inputs: dict) -> np.ndarray:
        return self.function(inputs).numpy()  # (B, V)


def compiled_step(model):
    """`model` for `generate_ids`: a `CompiledStep` on TensorFlow; the model itself on other backends."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return model
    import tensorflow as tf

    spec = {"image": tf.TensorSpec((None, model.input["image"].shape[-1]), tf.float32),
            "tokens": tf.TensorSpec((None, None), tf.int32)}
    return CompiledStep(tf.function(lambda inputs: model(inputs, training=False), input_signature=[spec]))


def prefix_bucket(model) -> int | None:
    """How decoding with `model` pads its prefixes: to `prefix_len` (None) where its predict step is XLA-compiled
    (JAX; TensorFlow on a GPU), to buckets of `BUCKET` elsewhere.

    XLA compiles one program per prefix length: buckets of 32 up to 236 tokens made 8 compilations per decoding
    run (about 3 s each on an H200, judging from 30 s of decoding), while padding 100 pictures to 236 tokens at
    all 235 steps adds an estimated second or two there. On a CPU without XLA (TensorFlow), arithmetic is the
    cost, so buckets win there.
    """
    return None if model.jit_compile else BUCKET


def generate_tokens(model, features: np.ndarray, vocabulary, config: GenerationConfig = GenerationConfig(),
                    prefix_len: int | None = None, progress: bool = True) -> list[list[str]]:
    """`generate_ids` with the ids of `vocabulary`, decoded to token strings, padded as `prefix_bucket` says.

    The note rule (sampling only): a piece without a note (`<end>` before any, or rests only) is sampled
    again from its picture alone with seed + 1, then seed + 2, ..., until it has one or `config.tries`
    seeds are used; the last try is kept either way. A piece with notes is never re-sampled: this is
    rejection sampling, from the model's music given that it has notes (exactly so with unlimited tries).
    A lone picture's second try is what `--seed` + 1 gives it.
    """
    from img2music_tf.tokens import tokens_to_notes

    def decode(rows: np.ndarray, seed: int, bar: bool) -> list[list[str]]:
        sequences = generate_ids(model, rows, vocabulary.start_id, vocabulary.end_id,
                                 dataclasses.replace(config, seed=seed), prefix_len=prefix_len, progress=bar,
                                 bucket=prefix_bucket(model))
        return [vocabulary.decode(ids) for ids in sequences]

    features = np.asarray(features)  # (N, F)
    pieces = decode(features, config.seed, progress)
    if config.method == "sample":
        for i in range(len(pieces)):
            for seed in range(config.seed + 1, config.seed + config.tries):
                if len(tokens_to_notes(pieces[i])):
                    break
                pieces[i] = decode(features[i : i + 1], seed, False)[0]
    return pieces


# --- pictures in, music files out -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Piece:
    """One generated piece: its picture, tokens, files, and the VA of both when known (1-9 scale)."""

    image: Path
    tokens: tuple[str, ...]
    n_notes: int  # notes sounding in the MIDI (a chord counts each of its notes)
    midi: Path
    wav: Path | None
    piano_roll: Path
    image_va: tuple[float, float] | None = None
    music_va: tuple[float, float] | None = None
    image_va_estimated: bool = False  # image_va is the image VA regressor's estimate, not a given value

    def to_dict(self) -> dict:
        return {
            "image": str(self.image),
            "midi": self.midi.name,
            "wav": self.wav.name if self.wav else None,
            "piano_roll": self.piano_roll.name,
            "n_tokens": len(self.tokens),
            "n_notes": self.n_notes,
            "tokens": list(self.tokens),
            "image_va": list(self.image_va) if self.image_va else None,
            "image_va_estimated": self.image_va_estimated,
            "music_va": list(self.music_va) if self.music_va else None,
        }


def check_images(paths) -> list[Path]:
    """The paths as Paths, or a UserError naming the first missing or unreadable picture (or a folder)."""
    from PIL import Image

    checked = []
    for path in paths:
        path = check_input_file(path, "image")
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise UserError(f"cannot read image {path}: {error}") from None
        checked.append(path)
    return checked


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
    va_predictor_dir=None,
    wav: bool = True,
    progress: bool = True,
    overwrite: bool = False,
) -> list[Piece]:
    """Generate a piece per picture with the trained run in `run_dir` (a folder, or a `Run` already loaded);
    write .mid/.wav/.png and summary.json.

    `generation` overrides GenerationConfig fields (max_len defaults to the run's;
    prefixes are always padded to the run's max_len, as in its training).
    `image_va` lists each picture's known (valence, arousal) or None, `image_va_estimated` which of them
    are estimates (`image_va.with_estimates`). The music's VA
    comes from the predictor in `va_predictor_dir`, else the one the run was trained
    with (if its folder still exists), else it is left out. The files are written into a
    hidden folder inside `out_dir` and moved into place at the end (summary.json last), so
    a failed or interrupted call leaves none of them, nor an `out_dir` it created. An `out_dir` that holds
    an earlier set (its summary.json) is refused unless `overwrite`, which replaces that set whole.
    """
    from img2music_tf import render
    from img2music_tf import tokens as token_language
    from img2music_tf.run_folder import Run, load_run

    images = check_images(images)
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
        predictor = load_va_predictor(va_predictor_dir)

        features = run.image_features(images, progress=progress)  # (N, F)
        sequences = generate_tokens(compiled_step(run.model), features, run.vocabulary, generation,
                                    prefix_len=run.config.max_len, progress=progress)

        pieces = []
        stems = output_stems(images)
        bar = tqdm(list(zip(images, stems, sequences, image_va, image_va_estimated)), desc="writing music",
                   unit="piece", disable=not progress)
        for image, stem, tokens, known_va, estimated in bar:
            midi = token_language.write_midi(tokens, staging / f"{stem}.mid")
            wav_path = render.write_wav(midi, staging / f"{stem}.wav") if wav else None
            png = render.write_piano_roll(midi, staging / f"{stem}{PIANO_ROLL_SUFFIX}",
                                          title=f"music from {image.name}")
            music_va = tuple(float(v) for v in predictor.predict_midi([midi])[0]) if predictor else None
            n_notes = len(token_language.tokens_to_notes(tokens))
            known_va = tuple(known_va) if known_va else None
            placed = [None if path is None else out_dir / path.name for path in (midi, wav_path, png)]
            pieces.append(Piece(image, tuple(tokens), n_notes, *placed, known_va, music_va, estimated))

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
    from img2music_tf.models.va_predictor import VAPredictor

    return VAPredictor.load(directory)


def print_pieces(pieces: list[Piece], out_dir: Path) -> None:
    """One line per piece: files and VA (music predicted, marked '*' outside 1-9; image known or estimated), then
    where the summary is."""
    from img2music_tf.models.va_predictor import EXTRAPOLATED, extrapolated, marked

    def va(pair, mark):
        return f"V {mark(pair[0])} A {mark(pair[1])}" if pair else "-"

    for piece in pieces:
        print(f"{piece.image.name}: {piece.midi.name}, {len(piece.tokens)} tokens, {piece.n_notes} notes | "
              f"music VA {va(piece.music_va, marked)} | image VA {va(piece.image_va, '{:.2f}'.format)}"
              f"{' (estimated)' if piece.image_va_estimated else ''}")
    if any(extrapolated(value) for piece in pieces for value in piece.music_va or ()):
        print(EXTRAPOLATED)
    print(f"wrote {len(pieces)} piece(s) (.mid, {'.wav, ' if pieces and pieces[0].wav else ''}.png) "
          f"and {SUMMARY_FILE} to {out_dir}")
