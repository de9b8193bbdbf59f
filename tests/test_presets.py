"""Presets: one config per table row, the paper's hyperparameters, overrides and JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from img2music_tf import cli
from img2music_tf.errors import UserError
from img2music_tf.experiments import SCALES
from img2music_tf.presets import PRESET_NAMES, ModelConfig, get_preset

TABLE_1 = ("LSTM_enc2", "Trans_enc3_dec3_VGG", "Trans_enc3_dec3_Inception", "Trans_enc4", "Trans_enc2_dec2")
TABLE_2 = ("Trans_enc3_dec3", "Trans_enc3_dec3_VA_Loss")


def test_one_preset_per_table_row():
    from img2music_tf.presets import PAPER_PRESETS

    assert set(PAPER_PRESETS) == set(TABLE_1) | set(TABLE_2)
    assert set(PRESET_NAMES) - set(PAPER_PRESETS) == {"Trans_enc3_dec3_VA_Soft", "Trans_enc3_dec3_VA_Cond",
                                                      "Trans_enc3_dec3_VA_Cond_NoImage"}  # ours, named apart


@pytest.mark.parametrize("fidelity", ["paper", "code"])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_is_valid_at_every_scale(name, scale, fidelity):
    config = get_preset(name, scale=scale, fidelity=fidelity)
    assert (config.name, config.scale, config.fidelity) == (name, scale, fidelity)
    assert config.epochs == (2 if name in TABLE_1 else 15)  # "after 2 epochs" / "after 15 epochs"
    assert config.va_loss == name.endswith(("_VA_Loss", "_VA_Soft"))
    assert config.va_term == ("soft" if name.endswith("_VA_Soft") else "argmax")
    assert config.lambda_cc == 1.0
    assert config.lambda_va == (0.1 if name.endswith("_VA_Soft") else {"paper": 1e-5, "code": 1e-7}[fidelity])
    assert config.vocab_size == 978
    assert config.image_encoder == ("inception_v3" if name.endswith("Inception") else "vgg16")
    # the fidelity is resolved into explicit fields, read by the leaf modules
    assert config.image_layer == ("fc2" if fidelity == "code" and config.image_encoder == "vgg16" else "pooled")
    assert (config.image_resize, config.image_preprocessing, config.va_batchnorm) == {
        "paper": ("bilinear", "own", True), "code": ("nearest", "vgg16", False)}[fidelity]


def test_paper_scale_follows_the_paper_and_the_authors_code():
    config = get_preset("Trans_enc3_dec3_VA_Loss")
    assert (config.embed_dim, config.num_heads, config.key_dim, config.max_len) == (256, 4, 256, 236)
    assert (config.encoder_blocks, config.decoder_blocks, config.decoder_units) == (3, 3, (128, 128, 256))
    assert (config.learning_rate, config.adam_beta_1, config.adam_beta_2) == (1e-5, 0.9, 0.999)
    assert (config.image_size, config.image_dim) == (224, 512)
    assert get_preset("Trans_enc3_dec3_VA_Loss", fidelity="code").image_dim == 4096
    assert get_preset("Trans_enc3_dec3_Inception").image_size == 299
    assert get_preset("Trans_enc4").decoder_blocks == 0  # dense layers only in the decoder
    lstm_paper, lstm_code = get_preset("LSTM_enc2"), get_preset("LSTM_enc2", fidelity="code")
    assert lstm_paper.lstm_units == (128, 256) and lstm_paper.learning_rate == 1e-5
    assert lstm_code.lstm_units == (128, 256, 256) and lstm_code.learning_rate == 1e-6


# The Adam learning rate each of the authors' scripts compiles a model with (docs/fidelity.md, "learning rate").
SCRIPT_LEARNING_RATES = {"LSTM_enc2": 1e-6, "Trans_enc4": 1e-4, "Trans_enc2_dec2": 1e-4}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_code_fidelity_trains_as_the_scripts_did_and_paper_fidelity_as_the_paper_says(name):
    paper, code = get_preset(name), get_preset(name, fidelity="code")
    assert paper.learning_rate == 1e-5  # "fixed at 1e-5"
    assert code.learning_rate == SCRIPT_LEARNING_RATES.get(name, 1e-5)
    assert paper.shuffle_songs and not code.shuffle_songs  # the authors' generator: midiData.txt's order


def test_small_scales_are_small():
    for name in PRESET_NAMES:
        paper, smoke, tiny = (get_preset(name, scale=s) for s in ("paper", "smoke", "tiny"))
        assert tiny.embed_dim < smoke.embed_dim < paper.embed_dim
        assert tiny.image_size <= smoke.image_size <= paper.image_size
        assert smoke.learning_rate > paper.learning_rate


def test_overrides_and_vocabulary_from_data():
    config = get_preset("Trans_enc3_dec3", vocab_size=120, epochs=1, lstm_units=[])
    assert (config.vocab_size, config.epochs) == (120, 1)
    assert dataclasses.replace(config, vocab_size=50).vocab_size == 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.vocab_size = 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Trans_enc9"}, "Trans_enc3_dec3_VGG"),
        ({"scale": "huge"}, "smoke"),
        ({"fidelity": "folklore"}, "code"),
        ({"epochs_typo": 3}, "epochs_typo"),
        ({"decoder_blocks": 4}, "decoder_blocks"),
        ({"image_size": 16}, "at least 32"),
        ({"name": "LSTM_enc2", "lstm_units": (128, 64)}, "last LSTM width"),
    ],
)
def test_invalid_presets_are_user_errors(kwargs, message):
    kwargs = {"name": "Trans_enc3_dec3", **kwargs}
    with pytest.raises(UserError, match=message):
        get_preset(**kwargs)


def test_config_json_round_trip(tmp_path):
    config = get_preset("LSTM_enc2", scale="smoke", fidelity="code", vocab_size=321)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    assert ModelConfig.from_dict(json.loads(path.read_text())) == config
    with pytest.raises(UserError, match="colour"):
        ModelConfig.from_dict({**config.to_dict(), "colour": "red"})


def test_models_list_command_prints_every_preset(capsys):
    assert cli.main(["models", "list", "--scale", "tiny", "--vocab-size", "50"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split("|")[1].strip() for row in rows[1:]] == list(PRESET_NAMES)
    assert all(int(row.split("|")[-2].strip().replace(",", "")) > 0 for row in rows[1:])


def test_models_list_with_a_bad_vocabulary_prints_only_the_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["models", "list", "--scale", "tiny", "--vocab-size", "0"])
    captured = capsys.readouterr()
    assert stopped.value.code == 2 and captured.out == ""
    assert captured.err == ("img2music: error: argument --vocab-size: must be an integer from 4 to 100000, got 0 "
                            "(see `img2music models list --help`)\n")


def test_presets_that_share_a_run_differ_only_in_name_epochs_and_the_va_term():
    """experiments.SAME_WEIGHTS lets a row read another preset's run: that is only honest if nothing else differs
    (the VA term itself has no gradient: tests/test_train.py)."""
    from img2music_tf.experiments import SAME_WEIGHTS

    for fidelity in ("paper", "code"):
        for row, trained in SAME_WEIGHTS.items():
            a, b = get_preset(row, fidelity=fidelity), get_preset(trained, fidelity=fidelity)
            assert dataclasses.replace(a, name=b.name, epochs=b.epochs, va_loss=b.va_loss) == b
