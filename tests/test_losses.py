"""The VA loss: the on-device and the literal (MIDI-file) implementations agree; argmax leaves no gradient."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from conftest import SEED

from img2music_tf import tokens as token_language
from img2music_tf.losses import VA_LOSSES, LiteralVALoss, VALoss
from img2music_tf.models.va_predictor import (
    VAPredictor,
    VAPredictorConfig,
    build_va_predictor,
    predictor_input,
    read_notes,
)
from img2music_tf.vocabulary import Vocabulary

# Sequences that exercise the decoder: unsorted chord classes, thirds and twelfths of a beat, rests, a re-struck
# pitch, a one-class chord, tempo/time tokens and <end> in the middle, a malformed token.
SEQUENCES = [
    ["<start>", "85.0@tempo", "4/4@time", "G4@2.75", "0.4.7@2.75", "r@1.25", "r@0.25", "5.9.0@1.0", "D4@0.5",
     "E-5@1/3", "E-5@1/3", "E-5@1/3", "10.2.5@1.5", "<end>"],
    ["<start>", "120.0@tempo", "3/4@time", "C4@1/3", "0.4.7@1/3", "C4@0.25", "r@1/3", "4@0.25", "B-3@4.0", "<end>",
     "G#5@1.75", "junk", "6/8@time", "A0@1/12"],
    ["<start>", "100.0@tempo", "4/4@time", "r@2.0", "C#6@0.5", "2.6.9@0.75", "F##3@1.0", "<end>"],
]
CONFIG = VAPredictorConfig(hidden_units=(16, 8))


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary.build(SEQUENCES)


@pytest.fixture(scope="module")
def predictor():
    keras.utils.set_random_seed(SEED)
    model = build_va_predictor(CONFIG, mean=[2000.0, 60.0, 400.0, 60.0], variance=[4e6, 300.0, 2e5, 1500.0])
    return VAPredictor(model, CONFIG)


def literal_inputs(tokens, folder, name="piece"):
    """The paper's path to the predictor input: music21 MIDI file -> muspy note rows -> padded, flat."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = token_language.write_midi(tokens, folder / f"{name}.mid")
    return predictor_input(read_notes(path, CONFIG.resolution), CONFIG)


def device_inputs(loss, vocabulary, tokens):
    return keras.ops.convert_to_numpy(loss.note_inputs(np.array([vocabulary.encode(tokens)])))[0]


def test_device_inputs_equal_the_midi_file_path(vocabulary, predictor, tmp_path):
    loss = VALoss(vocabulary, predictor)
    for index, tokens in enumerate(SEQUENCES):
        np.testing.assert_array_equal(device_inputs(loss, vocabulary, tokens), literal_inputs(tokens, tmp_path, index))


def test_device_inputs_equal_the_token_decoder(vocabulary, predictor):
    loss = VALoss(vocabulary, predictor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tokens in SEQUENCES:
            expected = predictor_input(token_language.tokens_to_notes(tokens, CONFIG.resolution), CONFIG)
            np.testing.assert_array_equal(device_inputs(loss, vocabulary, tokens), expected)


def test_device_inputs_truncate_at_500_notes_and_batch(vocabulary, predictor):
    loss = VALoss(vocabulary, predictor)
    long = ["<start>"] + ["0.4.7@2.75", "r@1/3", "D4@0.5"] * 130 + ["<end>"]  # 520 notes
    short = SEQUENCES[0] + ["<pad>"] * (len(long) - len(SEQUENCES[0]))
    ids = np.array([vocabulary.encode(long), vocabulary.encode(short)])  # (2, T)
    inputs = keras.ops.convert_to_numpy(loss.note_inputs(ids))  # (2, 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [predictor_input(token_language.tokens_to_notes(s, CONFIG.resolution), CONFIG) for s in (long, short)]
    assert len(token_language.tokens_to_notes(long)) == 520 and np.all(inputs[0] != CONFIG.pad_value)
    np.testing.assert_array_equal(inputs, np.stack(expected))


def song_batch(vocabulary, true_tokens, predicted_tokens, seed):
    """y_true ids (T,) and probabilities (T, V) whose row-wise argmax spells `predicted_tokens`."""
    rng = np.random.default_rng(seed)
    y_true = np.array(vocabulary.encode(true_tokens), np.int32)
    probs = rng.uniform(0.0, 0.5, (len(y_true), len(vocabulary))).astype(np.float32)
    probs[np.arange(len(y_true)), vocabulary.encode(predicted_tokens)] = 1.0
    return y_true, probs / probs.sum(axis=1, keepdims=True)


def test_device_and_literal_losses_agree(vocabulary, predictor):
    device, literal = VALoss(vocabulary, predictor), LiteralVALoss(vocabulary, predictor)
    true_tokens = SEQUENCES[0]
    losses = []
    for seed, other in enumerate(SEQUENCES):
        predicted = (other * 2)[: len(true_tokens)]
        y_true, y_pred = song_batch(vocabulary, true_tokens, predicted, SEED + seed)
        losses.append(literal(y_true, y_pred))
        np.testing.assert_allclose(float(device(y_true, y_pred)), losses[-1], rtol=1e-5, atol=1e-6)
        one_hot = np.eye(len(vocabulary), dtype=np.float32)[y_true]
        for same_ids in (one_hot, y_true[:, None]):  # the other forms a Keras target may take
            np.testing.assert_allclose(float(device(same_ids, y_pred)), losses[-1], rtol=1e-5, atol=1e-6)
    assert losses[0] == 0.0 and min(losses[1:]) > 0.0  # same sequence: no loss; other music: some


def test_va_loss_has_no_gradient_through_the_argmax(vocabulary, predictor):
    loss = VALoss(vocabulary, predictor)
    y_true, y_pred = song_batch(vocabulary, SEQUENCES[0], SEQUENCES[1][: len(SEQUENCES[0])], SEED)
    assert float(loss(y_true, y_pred)) > 0.0
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        y_pred = tf.constant(y_pred)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(y_pred)
            va = loss(y_true, y_pred)
            cross_entropy = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y_true, y_pred))
            total = cross_entropy + 1e-5 * va  # L_total with the paper's lambdas (Section 3.4)
        assert tape.gradient(va, y_pred) is None  # no path from L_VA back to the probabilities
        np.testing.assert_array_equal(tape.gradient(total, y_pred), tape.gradient(cross_entropy, y_pred))
    elif keras.backend.backend() == "jax":
        import jax

        gradient = jax.grad(lambda probs: loss(y_true, probs))(y_pred)
        assert gradient.shape == y_pred.shape and float(abs(gradient).max()) == 0.0
    else:
        pytest.skip(f"no gradient check written for the {keras.backend.backend()} backend")


def test_va_loss_runs_in_a_traced_function_with_unknown_length(vocabulary, predictor):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("graph tracing checked with tf.function")
    import tensorflow as tf

    loss = VALoss(vocabulary, predictor)
    traced = tf.function(loss, input_signature=[
        tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, len(vocabulary)), tf.float32)])
    for tokens in SEQUENCES:
        y_true, y_pred = song_batch(vocabulary, SEQUENCES[0][: len(tokens)], tokens[: len(SEQUENCES[0])], SEED)
        np.testing.assert_allclose(float(traced(y_true, y_pred)), float(loss(y_true, y_pred)), rtol=1e-6)


def _gradient(loss, y_true, y_pred):
    """d loss / d y_pred on the current backend."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        y_pred = tf.constant(y_pred)
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = loss(y_true, y_pred)
        return np.asarray(tape.gradient(value, y_pred))
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(lambda probs: loss(y_true, probs))(y_pred))
    pytest.skip(f"no gradient check written for the {keras.backend.backend()} backend")


def test_soft_va_term_has_a_finite_nonzero_gradient(vocabulary, predictor):
    from img2music_tf.losses import SoftVALoss

    loss = SoftVALoss(vocabulary, predictor)
    y_true, y_pred = song_batch(vocabulary, SEQUENCES[0], SEQUENCES[1][: len(SEQUENCES[0])], SEED)
    assert float(loss(y_true, y_pred)) > 0.0
    gradient = _gradient(loss, y_true, y_pred)
    assert gradient.shape == y_pred.shape and np.isfinite(gradient).all() and np.abs(gradient).max() > 0


def test_soft_va_term_reads_a_one_hot_prediction_like_the_expected_notes(vocabulary, predictor):
    """For one-hot rows the expected note of a step is that token's own (first) note: onsets and pitches agree
    with the argmax route wherever a token sounds."""
    from img2music_tf.losses import SoftVALoss

    loss = SoftVALoss(vocabulary, predictor)
    ids = np.array(vocabulary.encode(["<start>", "G4@2.75", "r@1.25", "D4@0.5", "C4@0.25", "<end>"]), np.int32)
    soft = keras.ops.convert_to_numpy(loss.soft_note_inputs(np.eye(len(vocabulary), dtype=np.float32)[ids]))
    exact = keras.ops.convert_to_numpy(loss.note_inputs(ids[None, :]))
    soft_rows, exact_rows = soft.reshape(-1, 4), exact.reshape(-1, 4)
    notes = [1, 3, 4]  # the steps that sound: G4, D4, C4 (the rest only moves the time)
    np.testing.assert_allclose(soft_rows[notes], exact_rows[: len(notes)], atol=1.0)  # onset, pitch, duration, velocity


def test_every_va_term_a_preset_may_name_has_its_loss():
    from img2music_tf.presets import VA_TERMS

    assert tuple(VA_LOSSES) == VA_TERMS
