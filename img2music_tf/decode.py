"""Autoregressive decoding of token sequences from image features, batched over pictures (Section 3.5).

The paper generates greedily: start from `<start>`, feed (image feature, token
prefix) to the model, append the most probable next token, stop at `<end>` or
at the maximum sequence length (236 tokens at paper scale; docs/fidelity.md,
row "generation"). Seeded temperature / top-k sampling is offered beside it,
each picture drawing from its own generator seeded by (seed, its stream): a number
drawn from the picture's content (`picture_stream`), so a piece depends on the
picture, the seed, the model and the settings only, not on the other pictures of
the batch or its place among them.

All sequences of a batch step together: one model call per step for the whole
batch; a finished sequence stops growing. The padding id is never emitted.
Nothing here writes a file: `generate.music_from_images` does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from img2music_tf.batches import BUCKET, pad_prefixes, round_up
from img2music_tf.errors import UserError
from img2music_tf.tokens import sounding_seconds, tokens_to_notes
from img2music_tf.vocabulary import PAD_ID

METHODS = ("greedy", "sample")


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """How to pick each next token.

    method: "greedy" (argmax, the paper's method) or "sample" (from the
        temperature-scaled distribution, restricted to the `top_k` most
        probable tokens when top_k > 0).
    max_len: longest sequence in tokens, `<start>` and `<end>` included.
    seed: drives sampling only; greedy output does not depend on it.
    tries: seeds a sampled piece may use to meet the length rule (`generate_tokens`): a piece that does not
        is sampled again, alone, with seed + 1, seed + 2, ...; 1 = no second try. Greedy ignores it.
    min_notes, min_seconds: the length rule: a sampled piece is kept when it has at least `min_notes` notes
        (a chord counts each) sounding until at least `min_seconds` (at its tempo, 120 bpm without one).
        The defaults (1 note, 0 s) are the note rule: a piece without a note is sampled again.
    """

    method: str = "greedy"
    temperature: float = 1.0
    top_k: int = 0
    max_len: int = 236
    seed: int = 0
    tries: int = 1
    min_notes: int = 1
    min_seconds: float = 0.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise UserError(f"generation method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise UserError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 0:
            raise UserError(f"top-k must be >= 0, got {self.top_k}")
        if self.max_len < 2:
            raise UserError(f"max-len must be >= 2 (room for <start> and one token), got {self.max_len}")
        if self.tries < 1:
            raise UserError(f"tries must be >= 1, got {self.tries}")
        if not 0 <= self.seed < 2**32:
            raise UserError(f"seed must be from 0 to 2^32-1, got {self.seed}")
        if self.min_notes < 0 or not (math.isfinite(self.min_seconds) and self.min_seconds >= 0):
            raise UserError(f"the length rule needs min_notes >= 0 and min_seconds >= 0, got {self.min_notes} "
                            f"and {self.min_seconds}")

    def long_enough(self, tokens: Sequence[str]) -> bool:
        """Whether a piece meets the length rule (`min_notes`, `min_seconds`)."""
        return len(tokens_to_notes(tokens)) >= self.min_notes and sounding_seconds(tokens) >= self.min_seconds


def picture_stream(path: str | Path) -> int:
    """The random stream of a picture: the first 8 bytes of its file's sha256, as a number. The same file
    gives the same stream wherever it lies and whatever else is decoded beside it."""
    return int.from_bytes(hashlib.sha256(Path(path).read_bytes()).digest()[:8], "big")


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
    streams: Sequence[int] | None = None,
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
    growing. Sequence i samples from its own generator seeded by (seed,
    streams[i]) (default: its index i), so it does not depend on the other rows.
    """
    features = np.asarray(features, dtype="float32")  # (N, F)
    length = prefix_len or config.max_len
    sequences = [[start_id] for _ in range(len(features))]
    streams = range(len(features)) if streams is None else streams
    rngs = [np.random.default_rng([config.seed, stream]) for stream in streams]
    running = np.arange(len(features))
    steps = tqdm(range(config.max_len - 1), desc="generate", unit="step", disable=None if progress else True, leave=False)
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
                    prefix_len: int | None = None, progress: bool = True,
                    streams: Sequence[int] | None = None) -> list[list[str]]:
    """`generate_ids` with the ids of `vocabulary`, decoded to token strings, padded as `prefix_bucket` says;
    `streams`: each picture's random stream (`picture_stream`; default its index).

    The length rule (sampling only, `GenerationConfig.long_enough`): a piece too short (by default: one
    without a note) is sampled again from its picture alone with seed + 1, then seed + 2, ..., until one
    is long enough or `config.tries` seeds are used; the last try is kept either way. A piece long enough is
    never re-sampled: this is rejection sampling, from the model's music given that it meets the rule
    (exactly so with unlimited tries). A lone picture's second try is what `--seed` + 1 gives it.
    """
    streams = list(range(len(features)) if streams is None else streams)

    def decode(rows: np.ndarray, seed: int, rows_streams: list[int], bar: bool) -> list[list[str]]:
        sequences = generate_ids(model, rows, vocabulary.start_id, vocabulary.end_id,
                                 dataclasses.replace(config, seed=seed), prefix_len=prefix_len, progress=bar,
                                 bucket=prefix_bucket(model), streams=rows_streams)
        return [vocabulary.decode(ids) for ids in sequences]

    features = np.asarray(features)  # (N, F)
    pieces = decode(features, config.seed, streams, progress)
    if config.method == "sample":
        for i in range(len(pieces)):
            for seed in range(config.seed + 1, config.seed + config.tries):
                if config.long_enough(pieces[i]):
                    break
                pieces[i] = decode(features[i : i + 1], seed, streams[i : i + 1], False)[0]
    return pieces
