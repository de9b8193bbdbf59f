"""The VA loss of paper Section 3.3.4: L_VA = mean |VA_true - VA_pred| (the trainer adds lambda_va * L_VA).

The true and predicted token sequences are the argmax of each row of the
one-hot targets and of the predicted probabilities of one song-batch (each
batch holds one song's prefixes, so row t is the token after prefix t). Both
sequences are turned into music, the pre-trained music VA predictor rates both,
and L_VA is the mean absolute difference over valence and arousal.

Two implementations that agree (tests/test_losses.py):
  * `VALoss`, on device: token ids -> note rows through lookup tables built
    from the vocabulary, in `keras.ops` only (TensorFlow and JAX), no files.
  * `LiteralVALoss`, as the paper describes it: token strings -> MIDI file
    (music21, `tokens.write_midi`) -> muspy -> predictor, in NumPy.

The argmax makes L_VA piecewise constant in the predicted probabilities: its
gradient is zero (None in TensorFlow), so in the paper's formulation the VA
term changes the reported loss, never the weights.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
from keras import ops

from img2music_tf import tokens as token_language
from img2music_tf.models.va_predictor import NOTE_FIELDS, VAPredictor

_PROBE = "C4@1.0"  # a note decoded after a token shows where that token left the time


def true_and_predicted_ids(y_true, y_pred):
    """The two token-id sequences (T,) of one song-batch.

    y_true: ids (T,) or (T, 1), or one-hot rows (T, V) whose argmax is taken;
    y_pred: probabilities (T, V), argmax of each row.
    """
    one_hot = len(y_true.shape) == 2 and y_true.shape[-1] != 1
    true_ids = ops.argmax(y_true, axis=-1) if one_hot else ops.reshape(y_true, (-1,))
    return ops.cast(true_ids, "int32"), ops.cast(ops.argmax(y_pred, axis=-1), "int32")


def _rounded_ratio(numerator, denominator: int):
    """round(numerator / denominator) with ties to even, exactly, for int tensors (Python's `round`)."""
    quotient = ops.floor_divide(numerator, denominator)
    remainder = numerator - quotient * denominator
    up = ops.logical_or(
        2 * remainder > denominator,
        ops.logical_and(2 * remainder == denominator, ops.mod(quotient, 2) == 1),
    )
    return quotient + ops.cast(up, numerator.dtype)


class VALoss:
    """L_VA on device: token ids -> note rows -> predictor, in `keras.ops` (usable in `Model.compute_loss`).

    The lookup tables hold, for every vocabulary id, the token's sorted pitches,
    its duration and how far it moves the time, in music21's MIDI ticks (10080
    per beat), read off `tokens.tokens_to_notes` so they follow the decoder by
    construction: notes and chords sound for their length, rests only move the
    time, tempo/time/<start>/<end>/padding/malformed tokens add nothing. Onsets
    are the decoder's first onset plus the cumulative sum of the time moves
    (decoding lays events one after another); onset and end are then rescaled to
    the predictor's resolution with round-half-even, as muspy does. The first
    `max_notes` notes fill the predictor input, the rest of it is `pad_value`.
    Ticks are int32: a sequence may span up to about 200,000 beats. Rows stay in
    token order (chord notes by pitch), which is muspy's (onset, pitch) order
    as long as every sounding token lasts at least one predictor tick.

    `tables` (from `token_tables(vocabulary)`) may be given when they were computed elsewhere: building
    them decodes tokens with music21, which a machine that only trains need not have.
    """

    def __init__(self, vocabulary, predictor: VAPredictor, tables: dict | None = None):
        self.vocabulary = vocabulary
        self.predictor = predictor
        config = predictor.config
        scale = math.gcd(config.resolution, token_language.MUSIC21_TICKS_PER_QUARTER)
        self.tick_numerator = config.resolution // scale
        self.tick_denominator = token_language.MUSIC21_TICKS_PER_QUARTER // scale
        tables = token_tables(vocabulary) if tables is None else tables
        self.pitch_table = ops.convert_to_tensor(tables["pitches"], "int32")  # (V, K)
        self.count_table = ops.convert_to_tensor(tables["counts"], "int32")  # (V,)
        self.length_table = ops.convert_to_tensor(tables["lengths"], "int32")  # (V,)
        self.advance_table = ops.convert_to_tensor(tables["advances"], "int32")  # (V,)
        self.velocity_table = ops.convert_to_tensor(tables["velocities"], "int32")  # (V,)
        self.max_chord = tables["pitches"].shape[1]
        self.lead_in = int(tables["lead_in"])

    def _ticks(self, fine):
        """music21 ticks -> predictor ticks, rounded like muspy's `adjust_resolution`."""
        return _rounded_ratio(fine * self.tick_numerator, self.tick_denominator)

    def note_inputs(self, ids):
        """Token ids (S, T) -> flat predictor inputs (S, max_notes * 4) float32, one per sequence."""
        config = self.predictor.config
        ids = ops.cast(ids, "int32")  # (S, T)
        advance = ops.take(self.advance_table, ids, axis=0)  # (S, T)
        start = self.lead_in + ops.cumsum(advance, axis=1) - advance  # (S, T)
        end = start + ops.take(self.length_table, ids, axis=0)  # (S, T)
        onset = self._ticks(start)  # (S, T)
        duration = self._ticks(end) - onset  # (S, T)
        velocity = ops.take(self.velocity_table, ids, axis=0)  # (S, T)
        pitches = ops.take(self.pitch_table, ids, axis=0)  # (S, T, K)
        counts = ops.take(self.count_table, ids, axis=0)  # (S, T)

        # Note k of token t goes to slot (notes before token t) + k; slots past max_notes are dropped.
        first = ops.cumsum(counts, axis=1) - counts  # (S, T)
        k = ops.arange(self.max_chord, dtype="int32")  # (K,)
        slot = first[:, :, None] + k  # (S, T, K)
        keep = ops.logical_and(k < counts[:, :, None], slot < config.max_notes)  # (S, T, K)
        slot = ops.where(keep, slot, config.max_notes)  # (S, T, K); max_notes = the dropped slot
        rows = ops.stack(
            [
                ops.broadcast_to(onset[:, :, None], ops.shape(pitches)),
                pitches,
                ops.broadcast_to(duration[:, :, None], ops.shape(pitches)),
                ops.broadcast_to(velocity[:, :, None], ops.shape(pitches)),
            ],
            axis=-1,
        )  # (S, T, K, 4)
        batch = ops.shape(ids)[0]
        rows = ops.reshape(ops.cast(rows, "float32"), (batch, -1, len(NOTE_FIELDS)))  # (S, T*K, 4)
        placement = ops.one_hot(ops.reshape(slot, (batch, -1)), config.max_notes + 1)  # (S, T*K, M+1)
        placement = placement[:, :, : config.max_notes]  # (S, T*K, M)
        notes = ops.einsum("snm,snf->smf", placement, rows)  # (S, M, 4)
        empty = 1.0 - ops.sum(placement, axis=1)  # (S, M): 1 where no note landed
        notes = notes + empty[:, :, None] * config.pad_value  # (S, M, 4)
        return ops.reshape(notes, (batch, config.max_notes * len(NOTE_FIELDS)))  # (S, M*4)

    def sequence_va(self, ids):
        """Token ids (S, T) -> predicted (valence, arousal) (S, 2)."""
        return self.predictor.model(self.note_inputs(ids), training=False)

    def __call__(self, y_true, y_pred):
        """L_VA of one song-batch (see `true_and_predicted_ids` for the inputs) -> scalar."""
        true_ids, pred_ids = true_and_predicted_ids(y_true, y_pred)
        va = self.sequence_va(ops.stack([true_ids, pred_ids]))  # (2, 2)
        return ops.mean(ops.abs(va[0] - va[1]))


class SoftVALoss(VALoss):
    """A differentiable VA term (NOT the paper's): the predicted music is the EXPECTED note of every step.

    The paper's L_VA takes the argmax of each probability row, so it has no gradient. Here row t of the
    predicted probabilities p_t (T, V) gives one note row with the expected values under p_t of the
    lookup tables of `VALoss`: onset = lead-in + the cumulative expected time moves, pitch = the expected
    lowest pitch of the sounding tokens (weighted by how likely the step sounds), duration and velocity
    likewise, all in predictor ticks (unrounded, so gradients flow). The true sequence is read as in the
    paper (argmax of the targets). L = mean |VA(true) - VA(expected music)|, differentiable with respect to
    the probabilities and so to the weights. Presets `*_VA_Soft` use it (docs/fidelity.md, "not in the
    paper").
    """

    def soft_note_inputs(self, probabilities):
        """Probabilities (T, V) -> flat predictor input (1, max_notes * 4) float32 of the expected notes."""
        config = self.predictor.config
        probs = ops.cast(probabilities, "float32")  # (T, V)
        scale = self.tick_numerator / self.tick_denominator  # music21 ticks -> predictor ticks

        def expect(table):  # (V,) -> (T,)
            return ops.matmul(probs, ops.cast(table, "float32"))

        sounding = ops.cast(self.count_table > 0, "float32")  # (V,)
        chance = expect(sounding)  # (T,): probability that step t sounds
        advance = expect(self.advance_table)  # (T,)
        onset = (self.lead_in + ops.cumsum(advance) - advance) * scale  # (T,)
        weight = ops.maximum(chance, 1e-6)
        pitch = expect(ops.cast(self.pitch_table[:, 0], "float32") * sounding) / weight  # (T,)
        duration = expect(ops.cast(self.length_table, "float32") * sounding) / weight * scale  # (T,)
        velocity = expect(ops.cast(self.velocity_table, "float32") * sounding) / weight  # (T,)
        rows = ops.stack([onset, pitch, duration, velocity], axis=-1)  # (T, 4)
        real = ops.sum(probs, axis=-1, keepdims=True) > 0  # (T, 1): the trainer zeroes padding rows
        rows = ops.where(real, rows, config.pad_value)  # (T, 4)
        padding = ops.full((config.max_notes, len(NOTE_FIELDS)), config.pad_value, "float32")  # (M, 4)
        notes = ops.concatenate([rows, padding], axis=0)[: config.max_notes]  # (M, 4)
        return ops.reshape(notes, (1, config.max_notes * len(NOTE_FIELDS)))

    def __call__(self, y_true, y_pred):
        """L of one song-batch (targets as `true_and_predicted_ids`; probabilities (T, V)) -> scalar."""
        true_ids, _ = true_and_predicted_ids(y_true, y_pred)
        true_va = self.sequence_va(true_ids[None, :])  # (1, 2)
        soft_va = self.predictor.model(self.soft_note_inputs(y_pred), training=False)  # (1, 2)
        return ops.mean(ops.abs(true_va - soft_va))


VA_LOSSES = {"argmax": VALoss, "soft": SoftVALoss}
"""`presets.ModelConfig.va_term` -> the loss class: the paper's term, or the differentiable one (ours)."""


def token_tables(vocabulary) -> dict:
    """Per vocabulary id, in music21 ticks: sorted pitches (V, K), their count, length, time move, velocity
    (NumPy arrays; `lead_in` an int), for `VALoss`.

    Each token is decoded alone by `tokens.tokens_to_notes`, followed by a probe
    note whose onset shows how far the token moved the time; `lead_in` is where
    decoding puts the first note.
    """
    ticks = token_language.MUSIC21_TICKS_PER_QUARTER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed tokens decode to nothing, by the decoders' policy
        lead_in = int(token_language.tokens_to_notes([_PROBE], resolution=ticks)[0, 0])
        decoded = []
        for index, token in enumerate(vocabulary.tokens):
            silent = index == vocabulary.pad_id
            rows = token_language.tokens_to_notes(([] if silent else [token]) + [_PROBE], resolution=ticks)
            decoded.append((rows[:-1], int(rows[-1, 0]) - lead_in))  # (own notes, time moved)
    max_chord = max(1, max(len(rows) for rows, _ in decoded))
    size = len(decoded)
    tables = {
        "lead_in": lead_in,
        "pitches": np.zeros((size, max_chord), np.int32),
        "counts": np.zeros(size, np.int32),
        "lengths": np.zeros(size, np.int32),
        "advances": np.zeros(size, np.int32),
        "velocities": np.zeros(size, np.int32),
    }
    for index, (rows, advance) in enumerate(decoded):
        tables["advances"][index] = advance
        if len(rows):
            tables["pitches"][index, : len(rows)] = rows[:, 1]  # rows come sorted by pitch
            tables["counts"][index] = len(rows)
            tables["lengths"][index] = rows[0, 2]
            tables["velocities"][index] = rows[0, 3]
    return tables


class LiteralVALoss:
    """L_VA as the paper describes it: ids -> token strings -> MIDI (music21) -> muspy -> predictor (NumPy).

    Slow (two MIDI files per call) and not differentiable; kept to show that
    `VALoss` computes the same number, and for readers who want the paper's path.
    """

    def __init__(self, vocabulary, predictor: VAPredictor):
        self.vocabulary = vocabulary
        self.predictor = predictor

    def token_strings(self, ids) -> list[str]:
        """The tokens of a sequence of ids (`Vocabulary.decode` leaves padding out)."""
        return self.vocabulary.decode(np.asarray(ids).tolist())

    def sequence_va(self, sequences: list[list[str]]) -> np.ndarray:
        """(valence, arousal) (S, 2) of token sequences, each written to a MIDI file and read back with muspy."""
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # malformed tokens are skipped, as the decoders do
            paths = [token_language.write_midi(seq, Path(scratch) / f"{i}.mid") for i, seq in enumerate(sequences)]
            return self.predictor.predict_midi(paths)

    def __call__(self, y_true, y_pred) -> float:
        """L_VA of one song-batch (see `true_and_predicted_ids` for the inputs) -> float."""
        true_ids, pred_ids = (ops.convert_to_numpy(x) for x in true_and_predicted_ids(y_true, y_pred))
        va = self.sequence_va([self.token_strings(true_ids), self.token_strings(pred_ids)])  # (2, 2)
        return float(np.mean(np.abs(va[0] - va[1])))
