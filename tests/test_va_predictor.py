"""The music VA predictor: note rows at one resolution, input layout, both architectures, save/load, training, CLI."""

from __future__ import annotations

import json
import zipfile

import keras
import muspy
import numpy as np
import pytest
from conftest import SEED

from img2music_tf import cli
from img2music_tf.data import eimg
from img2music_tf.data.items import Item, SourceResult
from img2music_tf.errors import UserError
from img2music_tf.models.va_predictor import (
    VAPredictor,
    VAPredictorConfig,
    build_va_predictor,
    input_statistics,
    predictor_input,
    read_notes,
)
from img2music_tf.va_training import VATrainConfig, evaluate, load_examples, train_on_items, train_va_predictor

TINY = VAPredictorConfig(hidden_units=(16, 8))


def write_piece(path, notes, resolution=480):
    """A one-track MIDI file from (onset, pitch, duration, velocity) rows given at `resolution`."""
    track = muspy.Track(notes=[muspy.Note(time=t, pitch=p, duration=d, velocity=v) for t, p, d, v in notes])
    muspy.write_midi(path, muspy.Music(resolution=resolution, tracks=[track]))
    return path


def test_read_notes_uses_one_resolution_whatever_the_file(tmp_path):
    beats = [(0, 60, 1, 80), (1, 64, 1, 90), (2, 67, 2, 100), (2, 48, 2, 70)]  # in beats
    for resolution in (480, 1024, 10080):
        rows = [(t * resolution, p, d * resolution, v) for t, p, d, v in beats]
        write_piece(tmp_path / f"{resolution}.mid", rows, resolution)
    expected = np.array([(0, 60, 480, 80), (480, 64, 480, 90), (960, 48, 960, 70), (960, 67, 960, 100)])
    for resolution in (480, 1024, 10080):
        np.testing.assert_array_equal(read_notes(tmp_path / f"{resolution}.mid", 480), expected)


def test_read_notes_errors_and_empty_files(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(UserError, match="cannot read MIDI file"):
        read_notes(bad)
    empty = tmp_path / "empty.mid"
    muspy.write_midi(empty, muspy.Music(resolution=480, tracks=[muspy.Track()]))
    assert read_notes(empty).shape == (0, 4)


def test_predictor_input_pads_with_one_and_truncates():
    config = VAPredictorConfig()
    short = np.array([[0, 60, 480, 80], [480, 62, 240, 90]])
    flat = predictor_input(short, config)
    assert flat.shape == (2000,) and flat.dtype == np.float32
    np.testing.assert_array_equal(flat[:8], short.reshape(-1))
    assert np.all(flat[8:] == 1.0)
    long = np.arange(600 * 4).reshape(600, 4)
    np.testing.assert_array_equal(predictor_input(long, config), long[:500].reshape(-1))
    assert np.all(predictor_input(np.zeros((0, 4)), config) == 1.0)


def test_architectures_follow_paper_and_code():
    from img2music_tf.presets import FIDELITIES

    paper = build_va_predictor(VAPredictorConfig(batchnorm=FIDELITIES["paper"].va_batchnorm, standardize=False))
    code = build_va_predictor(VAPredictorConfig(batchnorm=FIDELITIES["code"].va_batchnorm, standardize=False))
    def batchnorms(model):
        return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)

    assert batchnorms(paper) == 2 and batchnorms(code) == 0
    # EIMG code: Dense 2000->1024->512->2 without biases
    assert code.count_params() == 2000 * 1024 + 1024 * 512 + 512 * 2
    assert all(not layer.use_bias for layer in code.layers if isinstance(layer, keras.layers.Dense))
    assert paper.output_shape == code.output_shape == (None, 2)
    with pytest.raises(UserError, match="unknown VA predictor config keys: fidelity"):
        VAPredictorConfig.from_dict({**VAPredictorConfig().to_dict(), "fidelity": "paper"})


def test_standardisation_is_stored_in_the_model():
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    x = rng.uniform(0, 2000, (6, TINY.input_dim)).astype(np.float32)
    mean, variance = input_statistics(x, TINY)
    assert mean.shape == variance.shape == (4,)
    with_stats = build_va_predictor(TINY, mean, variance)
    keras.utils.set_random_seed(SEED)
    plain = build_va_predictor(VAPredictorConfig(hidden_units=(16, 8), standardize=False))
    plain.set_weights(with_stats.get_weights()[-len(plain.get_weights()):])
    standardised = ((x.reshape(-1, 4) - mean) / np.sqrt(variance)).reshape(x.shape).astype(np.float32)
    np.testing.assert_allclose(with_stats.predict(x, verbose=0), plain.predict(standardised, verbose=0), rtol=1e-4, atol=1e-4)


def test_save_and_load_give_the_same_predictions(tmp_path):
    keras.utils.set_random_seed(SEED)
    piece = write_piece(tmp_path / "a.mid", [(0, 60, 480, 80), (480, 72, 960, 110)])
    model = build_va_predictor(TINY, [100.0, 60.0, 400.0, 50.0], [1e4, 100.0, 1e4, 400.0])
    predictor = VAPredictor(model, TINY)
    before = predictor.predict_midi([piece])
    predictor.save(tmp_path / "model", {"note": "test"})
    loaded = VAPredictor.load(tmp_path / "model")
    assert loaded.config == TINY
    np.testing.assert_allclose(loaded.predict_midi([piece]), before, rtol=1e-6)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "metrics.json", "va_predictor.keras"]
    with pytest.raises(UserError, match="no trained VA predictor"):
        VAPredictor.load(tmp_path / "nothing")


def synthetic_items(folder, n, seed):
    """Pieces whose valence follows their pitch and arousal their velocity (a learnable toy task)."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        pitch, velocity = int(rng.integers(40, 90)), int(rng.integers(30, 120))
        step = int(rng.choice([120, 240, 480]))
        rows = [(k * step, pitch + int(rng.integers(-3, 4)), step, velocity) for k in range(int(rng.integers(10, 40)))]
        path = write_piece(folder / f"{i:04d}.mid", rows)
        valence = 1 + 8 * (pitch - 40) / 50
        arousal = 1 + 8 * (velocity - 30) / 90
        items.append(Item(f"{i:04d}", path, valence, arousal))
    return items


def test_training_beats_the_mean_baseline_on_learnable_data(tmp_path):
    items = synthetic_items(tmp_path, 120, SEED)
    examples, skipped = load_examples(items, TINY)
    assert skipped == [] and examples.inputs.shape == (120, 2000)
    ids = [item.id for item in items]
    split = {"train": ids[:90], "val": ids[90:100], "test": ids[100:]}
    settings = VATrainConfig(epochs=60, batch_size=16, learning_rate=3e-3, patience=15, seed=SEED)
    figures = train_on_items(items, tmp_path / "model", TINY, settings, split=split)
    test, baseline = figures["test"], figures["baseline_train_mean"]["test"]
    assert test["n"] == 20 and baseline["valence"]["pearson_r"] is None
    assert test["mae_mean"] < baseline["mae_mean"]
    assert 1 <= figures["training"]["best_epoch"] <= figures["training"]["epochs_run"] <= 60
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["test"] == test
    loaded = VAPredictor.load(tmp_path / "model")
    test_items = [item for item in items if item.id in split["test"]]
    again = evaluate(loaded.predict_midi([item.path for item in test_items]),
                     [(item.valence, item.arousal) for item in test_items])
    assert again["mae_mean"] == pytest.approx(test["mae_mean"], rel=1e-5)
    with pytest.raises(UserError, match="val split"):
        train_va_predictor(examples, {"train": ids, "val": [], "test": ids}, TINY, VATrainConfig(epochs=1))


def test_evaluate_figures():
    target = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    figures = evaluate(target + [[0.5, -1.0], [0.5, 1.0], [0.5, -1.0]], target)
    assert figures["valence"] == {"mae": 0.5, "pearson_r": pytest.approx(1.0)}
    assert figures["arousal"]["mae"] == 1.0 and figures["mae_mean"] == 0.75 and figures["n"] == 3


def test_cli_predict_prints_valence_and_arousal(tmp_path, capsys):
    piece = write_piece(tmp_path / "song.mid", [(0, 60, 480, 80)])
    VAPredictor(build_va_predictor(TINY), TINY).save(tmp_path / "model")
    assert cli.main(["va", "predict", str(piece), "--model", str(tmp_path / "model")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "file\tvalence\tarousal"
    name, valence, arousal = lines[1].split("\t")
    assert name == str(piece) and np.isfinite(float(valence.rstrip("*"))) and np.isfinite(float(arousal.rstrip("*")))
    assert cli.main(["va", "predict", str(piece), "--model", str(tmp_path / "missing")]) == 2
    assert "no trained VA predictor" in capsys.readouterr().err
    assert cli.main(["va", "predict", str(tmp_path / "nope.mid"), "--model", str(tmp_path / "model")]) == 2


def test_cli_predict_marks_values_outside_1_9_without_clipping(tmp_path, capsys, monkeypatch):
    pieces = [write_piece(tmp_path / f"song{i}.mid", [(0, 60, 480, 80)]) for i in range(2)]
    VAPredictor(build_va_predictor(TINY), TINY).save(tmp_path / "model")
    monkeypatch.setattr(VAPredictor, "predict_midi", lambda self, paths: np.array([[9.78, 5.0], [1.0, 0.25]]))
    assert cli.main(["va", "predict", *map(str, pieces), "--model", str(tmp_path / "model")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1:] == [f"{pieces[0]}\t9.780*\t5.000", f"{pieces[1]}\t1.000\t0.250*",
                         "* outside 1-9: the predictor extrapolates"]
    monkeypatch.setattr(VAPredictor, "predict_midi", lambda self, paths: np.array([[9.0, 1.0]]))
    assert cli.main(["va", "predict", str(pieces[0]), "--model", str(tmp_path / "model")]) == 0
    assert "*" not in capsys.readouterr().out


def test_cli_train_rejects_bad_settings_before_reading_data(tmp_path, capsys):
    for argv in (["--epochs", "0"], ["--batch-size", "-1"], ["--limit", "0"]):
        assert cli.main(["va", "train", "--source", str(tmp_path / "none"), *argv]) == 2
        assert "must be positive" in capsys.readouterr().err
    assert cli.main(["va", "train", "--source", str(tmp_path / "none"), "--patience", "-1"]) == 2
    assert "--patience must be 0 (never stop early) or more, got -1" in capsys.readouterr().err


def test_an_unwritable_out_fails_before_the_training(tmp_path, monkeypatch):
    items = synthetic_items(tmp_path, 3, SEED)
    (tmp_path / "somefile").write_text("x")
    monkeypatch.setattr("img2music_tf.va_training.load_examples", lambda *a: pytest.fail("read before --out checked"))
    with pytest.raises(UserError, match="cannot write to output folder .*somefile is a file, not a folder"):
        train_on_items(items, tmp_path / "somefile" / "va", TINY)


def test_cli_train_offline_names_source_and_its_variable(tmp_path, monkeypatch, capsys):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.delenv(eimg.ENV_VAR, raising=False)
    assert cli.main(["va", "train", "--out", str(tmp_path / "va")]) == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith(f"(offline? pass a local copy with --source PATH or ${eimg.ENV_VAR})")


@pytest.mark.integration
def test_cli_train_on_eimg(eimg_source, tmp_path, capsys):
    out = tmp_path / "va"
    argv = ["va", "train", "--source", str(eimg_source), "--out", str(out), "--limit", "200", "--epochs", "2"]
    assert cli.main(argv) == 0
    assert "| VA predictor |" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == 100 and metrics["training"]["epochs_run"] == 2
    piece = eimg.load(eimg_source).items[0].path
    va = VAPredictor.load(out).predict_midi([piece])
    assert va.shape == (1, 2) and np.all(np.isfinite(va))


def test_cli_predict_refuses_files_without_pitched_notes(tmp_path, capsys):
    VAPredictor(build_va_predictor(TINY), TINY).save(tmp_path / "model")
    silent = tmp_path / "silent.mid"
    muspy.write_midi(silent, muspy.Music(resolution=480, tracks=[muspy.Track()]))
    drums = tmp_path / "drums.mid"
    kit = muspy.Track(program=0, is_drum=True, notes=[muspy.Note(time=0, pitch=36, duration=240, velocity=90)])
    muspy.write_midi(drums, muspy.Music(resolution=480, tracks=[kit]))
    (tmp_path / "songs").mkdir()
    for path, words in ((silent, "holds no notes"), (drums, "holds drums only"),
                        (tmp_path / "songs", "is a folder, not a MIDI file")):
        assert cli.main(["va", "predict", str(path), "--model", str(tmp_path / "model")]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""  # no VA printed
        assert captured.err.startswith(f"img2music: error: {path} {words}") and len(captured.err.splitlines()) == 1


def test_a_failed_save_leaves_the_old_predictor_whole(tmp_path, monkeypatch):
    from img2music_tf.models import va_predictor

    keras.utils.set_random_seed(SEED)
    old = VAPredictor(build_va_predictor(TINY), TINY)
    old.save(tmp_path / "model", {"run": "old"})
    before = sorted(p.name for p in (tmp_path / "model").iterdir())

    def disk_full(path, data):
        raise UserError(f"cannot write {path}: no space left on device")

    monkeypatch.setattr(va_predictor, "write_json", disk_full)  # the model is written, then the config fails
    with pytest.raises(UserError, match="no space left"):
        VAPredictor(build_va_predictor(TINY), TINY).save(tmp_path / "model", {"run": "new"})
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == before  # no hidden folder, no new file
    loaded = VAPredictor.load(tmp_path / "model")
    for got, want in zip(loaded.model.get_weights(), old.model.get_weights()):
        np.testing.assert_array_equal(got, want)  # the old model, not the new one beside the old config


def test_a_damaged_predictor_is_a_user_error(tmp_path):
    VAPredictor(build_va_predictor(TINY), TINY).save(tmp_path / "model")
    model = tmp_path / "model" / "va_predictor.keras"
    model.write_bytes(model.read_bytes()[:500])
    with pytest.raises(UserError, match="damaged or incomplete"):
        VAPredictor.load(tmp_path / "model")
    (tmp_path / "model" / "config.json").write_text('{"batchnorm": tr')
    with pytest.raises(UserError, match="config.json"):
        VAPredictor.load(tmp_path / "model")
    VAPredictor(build_va_predictor(TINY), TINY).save(tmp_path / "model")
    with zipfile.ZipFile(model, "w") as archive:  # a complete zip, but not a Keras model
        archive.writestr("config.json", "{}")
    with pytest.raises(UserError, match=r"^cannot load the model .*va_predictor.keras \(.+\): copy it or train"):
        VAPredictor.load(tmp_path / "model")
    with pytest.raises(UserError, match="is a file: give the VA predictor's folder"):
        VAPredictor.load(model)  # the .keras file instead of its folder


def test_epoch_bar_says_when_early_stopping_ended_the_training(capsys):
    from types import SimpleNamespace

    from img2music_tf.va_training import _EpochBar

    for stopping, said in ((SimpleNamespace(stopped_epoch=29, patience=20, best_epoch=9),
                            "training VA predictor: stopped early at epoch 30 of 60: no better validation loss for "
                            "20 epoch(s); kept epoch 10\n"),
                           (SimpleNamespace(stopped_epoch=0, patience=20, best_epoch=50), ""), (None, "")):
        bar = _EpochBar(60, stopping)
        for epoch in range(30 if said else 60):
            bar.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 2.0})
        bar.on_train_end()
        assert capsys.readouterr().out == said


def test_cli_train_makes_its_folder_only_to_save_and_a_full_disk_leaves_none(tmp_path, capsys, monkeypatch):
    """The training runs before --out exists, so a kill meanwhile (even kill -9) leaves no folder; a full disk
    while saving is one line, exit 2, and no folder either."""
    import errno

    import img2music_tf.va_training as va_training

    items = synthetic_items(tmp_path, 20, SEED)
    ids = [item.id for item in items]
    monkeypatch.setattr(eimg, "load", lambda source: SourceResult(items))
    monkeypatch.setattr(va_training, "split_ids_of", lambda items: {"train": ids[:12], "val": ids[12:16],
                                                                    "test": ids[16:]})
    out = tmp_path / "new" / "va"
    train = va_training.train_va_predictor
    while_training = []

    def watched(*args, **kwargs):
        while_training.append(out.parent.exists())
        return train(*args, **kwargs)

    monkeypatch.setattr(va_training, "train_va_predictor", watched)
    argv = ["va", "train", "--out", str(out), "--epochs", "1"]
    assert cli.main(argv) == 0
    assert while_training == [False]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.json", "va_predictor.keras"]
    capsys.readouterr()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.saving, "save_model", full)
    assert cli.main([*argv[:3], str(tmp_path / "other" / "va"), *argv[4:]]) == 2
    assert capsys.readouterr().err == (f"img2music: error: cannot write into {tmp_path / 'other' / 'va'}: "
                                       "No space left on device\n")
    assert not (tmp_path / "other").exists()
