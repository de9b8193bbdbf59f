"""The Keras models: sizes of the authors' code, shapes, masking, save/load. Runs under TensorFlow and JAX."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SEED

keras = pytest.importorskip("keras")

from img2music_tf.conditioning import net_inputs  # noqa: E402
from img2music_tf.errors import UserError  # noqa: E402
from img2music_tf.models.decoder import Decoder  # noqa: E402
from img2music_tf.models.img2music import Img2Music, build_model  # noqa: E402
from img2music_tf.models.midi_encoder import LSTMEncoder, TransformerEncoder  # noqa: E402
from img2music_tf.presets import PRESET_NAMES, get_preset  # noqa: E402


def _inputs(model, tokens, seed=SEED):
    tokens = np.asarray(tokens, dtype="int32")
    width = model.input["image"].shape[-1]  # the feature, and for a VA-conditioned net the (valence, arousal)
    image = np.random.default_rng(seed).normal(size=(len(tokens), width)).astype("float32")
    return {"image": image, "tokens": tokens}


def _predict(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def test_trans_enc3_dec3_has_the_parameter_count_of_the_authors_summary():
    # Documented fact: the authors' model summary of trans_enc3_dec3 (4096-d VGG16 fc2 feature, 978 tokens).
    model = build_model(get_preset("Trans_enc3_dec3", fidelity="code", vocab_size=978))
    assert model.count_params() == 6_898_130
    # The lead's decomposition, block by block.
    assert model.get_layer("image_projection").count_params() == 1_048_832
    encoder = model.get_layer("midi_encoder")
    assert encoder.embedding.count_params() == 250_368
    assert [a.count_params() for a in encoder.attentions] == [1_051_904] * 3
    decoder = model.get_layer("decoder")
    assert [a.count_params() for a in decoder.attentions] == [1_051_904, 527_488, 527_488]
    assert [d.count_params() for d in decoder.denses] == [32_896, 16_512, 33_024]
    assert decoder.output_dense.count_params() == 251_346


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_builds_at_paper_scale_in_both_fidelities(name):
    code = build_model(get_preset(name, fidelity="code"))
    paper = build_model(get_preset(name, fidelity="paper"))
    assert code.name == paper.name == name
    config = get_preset(name)
    if config.image_encoder == "vgg16" and config.midi_encoder == "transformer" and config.va_condition != "without_image":
        # Same network; only the image Dense differs: 4096 -> 256 in the code, 512 -> 256 in the paper.
        assert code.count_params() - paper.count_params() == (4096 - 512) * 256


def test_rows_with_the_same_architecture_have_the_same_size():
    counts = {name: build_model(get_preset(name, fidelity="code")).count_params() for name in
              ("Trans_enc3_dec3_VGG", "Trans_enc3_dec3", "Trans_enc3_dec3_VA_Loss")}
    assert len(set(counts.values())) == 1


@pytest.mark.parametrize(
    ("name", "fidelity"), [(name, "paper") for name in PRESET_NAMES] + [("LSTM_enc2", "code")]
)
def test_tiny_forward_gives_one_distribution_per_prefix(name, fidelity):
    config = get_preset(name, scale="tiny", fidelity=fidelity, vocab_size=40)
    model = build_model(config)
    tokens = np.array([[0, 0, 0, 5, 7], [0, 0, 9, 3, 2], [1, 2, 3, 4, 5]])
    probabilities = _predict(model, _inputs(model, tokens))
    assert probabilities.shape == (3, 40)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()
    # The prediction depends on both inputs.
    other_image = _predict(model, _inputs(model, tokens, seed=SEED + 1))
    assert not np.allclose(probabilities, other_image)


@pytest.mark.parametrize("name", ["Trans_enc3_dec3_VA_Cond", "Trans_enc3_dec3_VA_Cond_NoImage"])
def test_a_va_conditioned_net_follows_the_va_it_is_given_and_the_image_only_beside_it(name):
    config = get_preset(name, scale="tiny", vocab_size=40)
    model = build_model(config)
    tokens = np.array([[0, 0, 3, 5, 7], [1, 2, 3, 4, 5]], dtype="int32")
    feature = np.random.default_rng(SEED).normal(size=(2, config.image_dim)).astype("float32")  # (2, F)
    other_feature = feature[::-1].copy()

    def predict(features, va):
        return _predict(model, {"image": net_inputs(features, va, config), "tokens": tokens})

    assert model.input["image"].shape[-1] == config.image_dim + 2
    sad, happy = predict(feature, [(2, 2)] * 2), predict(feature, [(8, 8)] * 2)
    assert not np.allclose(sad, happy)
    with_other_picture = predict(other_feature, [(2, 2)] * 2)
    assert np.allclose(sad, with_other_picture) == (config.va_condition == "without_image")
    with pytest.raises(UserError, match="conditioned on valence and arousal"):
        net_inputs(feature, None, config)


def test_transformer_encoder_ignores_padding_amount_and_side():
    model = build_model(get_preset("Trans_enc3_dec3", scale="tiny", vocab_size=30))
    prefix = [4, 9, 2]
    left = [[0, 0, 0, 0, *prefix]]
    right = [[*prefix, 0, 0, 0, 0]]
    short = [prefix]
    outputs = [_predict(model, _inputs(model, t)) for t in (left, right, short)]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs[0], outputs[2], rtol=1e-5, atol=1e-6)
    # The padding mask matters: a real token in place of padding changes the output.
    changed = _predict(model, _inputs(model, [[0, 0, 0, 5, *prefix]]))
    assert not np.allclose(outputs[0], changed)


def test_transformer_encoder_has_no_positional_information():
    # As in the authors' code: no positional encoding, so a permuted prefix encodes to the same vector.
    model = build_model(get_preset("Trans_enc3_dec3", scale="tiny", vocab_size=30))
    a = _predict(model, _inputs(model, [[0, 4, 9, 2]]))
    b = _predict(model, _inputs(model, [[0, 2, 4, 9]]))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lstm_encoder_ignores_left_padding_but_not_order():
    model = build_model(get_preset("LSTM_enc2", scale="tiny", vocab_size=30))
    a = _predict(model, _inputs(model, [[0, 0, 0, 0, 4, 9, 2]]))
    b = _predict(model, _inputs(model, [[4, 9, 2]]))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    c = _predict(model, _inputs(model, [[2, 9, 4]]))
    assert not np.allclose(a, c)


def test_lstm_encoder_equals_the_masked_lstm_over_the_padded_prefix():
    # The authors' formulation: embed, run the LSTMs with the padding mask, take the state after the last step
    # (a masked step carries the state). The layer moves the real ids first and runs without a mask instead.
    encoder = LSTMEncoder(30, 8, (6, 8), dropout=0.2)
    rng = np.random.default_rng(SEED)
    rows = [rng.integers(1, 30, size=n).tolist() for n in (1, 3, 7, 9)]
    tokens = np.array([[0] * (9 - len(r)) + r for r in rows]  # left padding, as in training
                      + [rows[1] + [0] * 6, [0] + rows[2][:3] + [0] + rows[2][3:], [0] * 9], "int32")
    encoder(tokens)  # builds

    def masked(tokens):
        x = encoder.embedding(tokens)
        for lstm in encoder.lstms:
            x = lstm(x, mask=keras.ops.not_equal(tokens, 0))
        return keras.ops.convert_to_numpy(x[:, -1])

    got = keras.ops.convert_to_numpy(encoder(tokens, training=False))
    np.testing.assert_allclose(got, masked(tokens), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[4], got[1], rtol=1e-5, atol=1e-6)  # right padding = left padding
    np.testing.assert_allclose(got[5], got[2], rtol=1e-5, atol=1e-6)  # padding inside the prefix is skipped
    np.testing.assert_array_equal(got[6], 0)  # no real id: the zero state
    assert len({tuple(np.round(row, 6)) for row in got[:4]}) == 4


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="Keras' JAX cuDNN path")
def test_lstm_encoder_takes_keras_cudnn_path_on_a_gpu_and_gives_the_masked_lstm(monkeypatch):
    # On a GPU, Keras (JAX) runs an unmasked LSTM through jax.experimental.rnn.lstm (cuDNN). Here that kernel is
    # replaced by JAX's reference of it, so the whole path (weight layout, gates, sequences) runs on the CPU.
    import importlib

    import jax.experimental.rnn as jax_rnn

    keras_jax_rnn = importlib.import_module("keras.src.backend.jax.rnn")  # the module, not its `rnn` function

    calls = []

    def reference(x, h_0, c_0, weights, seq_lengths, input_size, hidden_size, num_layers, dropout, bidirectional,
                  precision=None):
        calls.append(x.shape)
        unpacked = jax_rnn.unpack_lstm_weights(weights, input_size, hidden_size, num_layers, bidirectional)
        return jax_rnn.lstm_ref(x, h_0, c_0, *unpacked, seq_lengths, input_size, hidden_size, num_layers, dropout,
                                bidirectional)

    encoder = LSTMEncoder(30, 8, (6, 8), dropout=0.2)
    tokens = np.array([[0, 0, 0, 4, 9, 2], [0, 7, 3, 5, 1, 6], [3, 0, 0, 8, 0, 0]], "int32")
    encoder(tokens)  # builds
    loop = keras.ops.convert_to_numpy(encoder(tokens, training=False))  # on the CPU: Keras' step loop
    monkeypatch.setattr(keras_jax_rnn, "_is_gpu_available", lambda: True)
    monkeypatch.setattr(jax_rnn, "lstm", reference)
    cudnn = keras.ops.convert_to_numpy(encoder(tokens, training=False))
    assert calls == [(3, 6, 8), (3, 6, 6)]  # both LSTMs went through the cuDNN entry point
    np.testing.assert_allclose(cudnn, loop, rtol=1e-5, atol=1e-6)
    mask = keras.ops.not_equal(tokens, 0)
    masked = encoder.lstms[1](encoder.lstms[0](encoder.embedding(tokens), mask=mask), mask=mask)[:, -1]
    np.testing.assert_allclose(cudnn, keras.ops.convert_to_numpy(masked), rtol=1e-5, atol=1e-6)


def test_dropout_is_off_at_inference_and_on_in_training():
    model = build_model(get_preset("Trans_enc3_dec3", scale="tiny", vocab_size=30))
    inputs = _inputs(model, [[0, 3, 4, 5]] * 4)
    np.testing.assert_array_equal(_predict(model, inputs), _predict(model, inputs))
    trained = keras.ops.convert_to_numpy(model(inputs, training=True))
    assert not np.allclose(trained, _predict(model, inputs))


@pytest.mark.parametrize("name", ["Trans_enc3_dec3", "Trans_enc4", "LSTM_enc2"])
def test_save_and_load_keras_format_gives_identical_outputs(tmp_path, name):
    model = build_model(get_preset(name, scale="tiny", fidelity="code", vocab_size=30))
    inputs = _inputs(model, [[0, 0, 3, 4], [1, 2, 3, 4]])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Img2Music)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(_predict(loaded, inputs), _predict(model, inputs))


@pytest.mark.parametrize(
    "layer",
    [
        TransformerEncoder(20, 8, 2, 2, 4, dropout=0.1, layer_norm_epsilon=1e-5),
        LSTMEncoder(20, 8, (4, 8), dropout=0.3),
        Decoder(20, (4, 6, 8), 2, 2, 4, dropout=0.1, layer_norm_epsilon=1e-5),
    ],
    ids=["transformer", "lstm", "decoder"],
)
def test_every_layer_argument_survives_get_config(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
