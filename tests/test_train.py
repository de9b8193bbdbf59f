"""The training loop: bucket padding equals max_len padding, exact resume, the VA term (no gradient),
history/checkpoint files, the train command.

One module-scoped set of tiny runs serves every test that only reads it. Run again under JAX:
`KERAS_BACKEND=jax pytest -q tests/test_train.py`.
"""

import contextlib
import dataclasses
import json
import inspect
import logging

import keras
import numpy as np
import pytest
from conftest import SEED

from img2music_tf import run_folder, train, training_run
from img2music_tf.batches import BUCKET, Song, SongBatches
from img2music_tf.errors import UserError
from img2music_tf.losses import VALoss
from img2music_tf.models.image_encoder import FeatureScaling, extract_features
from img2music_tf.models.img2music import build_model
from img2music_tf.models.va_predictor import VAPredictor, VAPredictorConfig, build_va_predictor
from img2music_tf.presets import get_preset
from img2music_tf.vocabulary import Vocabulary

TOKENS = ["<start>", "100.0@tempo", "4/4@time", "C4@1.0", "E4@0.5", "G4@2.0", "A3@1/3", "0.4.7@1.0", "2.7@0.5",
          "r@0.5", "r@1.0", "B-4@0.25", "<end>"]
EPOCHS = 2


def _config(name="Trans_enc3_dec3", **overrides):
    vocab_size = len(Vocabulary.build([TOKENS]))
    return get_preset(name, scale="tiny", vocab_size=vocab_size, **{"max_len": 40, **overrides})


def _songs(config, lengths=(5, 6, 7)):  # 2 train + 1 val; one length bucket (32 < max_len 40): one compilation
    rng = np.random.default_rng(SEED)
    return [
        Song(f"s{k}", rng.normal(size=config.image_dim).astype(np.float32),
             tuple(rng.integers(1, config.vocab_size, n).tolist()))
        for k, n in enumerate(lengths)
    ]


def _va_loss():
    """The on-device VA loss with a small untrained predictor (seeded)."""
    keras.utils.set_random_seed(SEED)
    config = VAPredictorConfig(max_notes=16, hidden_units=(8, 4))
    return VALoss(Vocabulary.build([TOKENS]), VAPredictor(build_va_predictor(config), config))


@pytest.mark.parametrize("name", ["Trans_enc3_dec3", "LSTM_enc2"])
def test_a_song_padded_to_its_bucket_gives_the_loss_and_predictions_of_max_len_padding(name):
    # The authors pad every prefix to max_len; training pads to the song's length bucket and may add padding
    # rows. Padding is masked, so predictions, L_CC and L_VA must not change.
    config = _config(name, max_len=96)
    keras.utils.set_random_seed(SEED)
    trainer = train.Img2MusicTrainer(build_model(config), _va_loss(), lambda_va=1.0)
    song = _songs(config, lengths=(40,))[0]
    full = SongBatches([song], config.max_len, bucket=None)[0]
    bucketed = SongBatches([song], config.max_len, batch_bucket=BUCKET)[0]
    assert full[0][0]["tokens"].shape == (39, 96) and bucketed[0][0]["tokens"].shape == (64, 64)
    results = []
    for inputs, targets in (full, bucketed):
        for tracker in trainer.metrics:
            tracker.reset_state()
        probabilities = trainer(inputs, training=False)  # (B, V)
        loss = trainer.compute_loss(inputs, targets, probabilities)
        results.append([keras.ops.convert_to_numpy(probabilities)[:39], float(loss)]
                       + [float(trainer.cross_entropy_tracker.result()), float(trainer.va_loss_tracker.result())])
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(results[0][1:], results[1][1:], rtol=1e-5)
    assert results[0][3] > 0  # the VA term is there, and equal (25 padding rows counted nowhere)


def test_validation_padded_to_one_shape_gives_the_same_losses_in_one_compiled_program(caplog):
    # Under XLA, fit_songs pads every validation song to the largest one's shape: one test-step program.
    config = _config()
    songs = _songs(config, lengths=(5, 36, 7))  # prefix lengths padded to 32, 40 (max_len), 32
    results, programs = [], []
    for one_shape in (False, True):
        keras.utils.set_random_seed(SEED)
        trainer = train.compile_trainer(train.Img2MusicTrainer(build_model(config), _va_loss(), lambda_va=1.0),
                                        config)
        data = SongBatches(songs, config.max_len, shuffle=False, batch_bucket=BUCKET, one_shape=one_shape)
        with _compiled_programs(caplog) as compiled:
            results.append(trainer.evaluate(data, verbose=0, return_dict=True))
        programs.append(compiled.count("test_step"))
    if keras.backend.backend() == "jax":  # one XLA program per batch shape
        assert programs == [2, 1]
    assert results[0].keys() == results[1].keys() and results[0]["va_loss"] > 0
    for name in results[0]:
        np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-5)


# One encoder block: in the authors' stack (no residuals) the later blocks see near-identical positions, so their
# query and key weights get gradients of float noise, which Adam scales up to steps of the learning rate's size.
@pytest.mark.parametrize(("name", "sizes"), [("Trans_enc3_dec3", {"encoder_blocks": 1}), ("LSTM_enc2", {})])
def test_row_groups_train_the_weights_of_one_batch_per_song(name, sizes, tmp_path):
    # Gradients of the groups add up to the song's gradient, one Adam step per song. Without dropout (its masks
    # are drawn per group) the weights agree up to float summation order.
    config = _config(name, dropout=0.0, image_dropout=0.0, learning_rate=1e-3, **sizes)
    songs = _songs(config, lengths=(20, 11))  # in groups of 8 rows: 3 groups (the last of 3 rows) and 2
    weights = []
    for group_rows in (None, 8):
        keras.utils.set_random_seed(SEED)
        trainer = train.compile_trainer(train.Img2MusicTrainer(build_model(config), _va_loss(), lambda_va=1.0),
                                        config)
        initial = _numpy(trainer.net.weights)
        rows = train.fit_songs(trainer, songs, [], config.max_len, 2, tmp_path / str(group_rows), SEED, verbose=0,
                               bucket=8, group_rows=group_rows)
        weights.append(_numpy(trainer.net.weights))
        assert int(trainer.optimizer.iterations) == 2 * len(songs)  # one Adam step per song
    assert any(not np.allclose(a, b) for a, b in zip(initial, weights[1]))
    for one_batch, grouped in zip(*weights):  # atol: the attention key bias has no gradient but float noise,
        np.testing.assert_allclose(grouped, one_batch, rtol=1e-5, atol=1e-6)  # which Adam turns into < 1e-6 steps
    assert rows[-1]["loss"] > 0


def test_without_shuffling_every_epoch_meets_the_songs_in_their_given_order():
    config = _config()
    songs = _songs(config, lengths=(5, 40, 6, 7))  # the first two differ in length bucket: no swap (batches)
    for shuffle in (False, True):
        batches = train.training_batches(songs, config.max_len, SEED, shuffle=shuffle)
        orders = []
        for _ in range(3):
            orders.append([batches.song_at(k).id for k in range(len(batches))])
            batches.on_epoch_end()
        given = [song.id for song in songs]
        assert (orders == [given] * 3) is not shuffle  # shuffled: new orders (with SEED, none is the given one)


def test_fit_model_keeps_the_song_order_of_its_config(tmp_path, monkeypatch):
    seen = []
    batches = train.training_batches

    def recording(*args, **kwargs):
        seen.append(inspect.signature(batches).bind(*args, **kwargs).arguments.get("shuffle", True))
        return batches(*args, **kwargs)

    monkeypatch.setattr(train, "training_batches", recording)
    for fidelity in ("code", "paper"):
        config = dataclasses.replace(_config(), fidelity=fidelity, epochs=1,
                                     shuffle_songs=get_preset("Trans_enc3_dec3", fidelity=fidelity).shuffle_songs)
        train.fit_model(config, _songs(config)[:2], [], tmp_path / fidelity, SEED, verbose=0)
    assert seen == [False, True]


@contextlib.contextmanager
def _compiled_programs(caplog):
    """The names of the functions JAX compiles in the block (a list that fills on exit); empty under TensorFlow."""
    names = []
    if keras.backend.backend() != "jax":
        yield names
        return
    import jax

    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING, logger="jax"):
            caplog.clear()
            yield names
            names.extend(r.getMessage().split()[1].removeprefix("jit(").removesuffix(")")
                         for r in caplog.records if r.getMessage().startswith("Compiling "))
    finally:
        jax.config.update("jax_log_compiles", False)


def _fit(config, out_dir, epochs, resume=False, va_loss=None, snapshot_epochs=()):
    """Eager (tracing a step costs more than these tiny steps); the train command test runs compiled."""
    keras.utils.set_random_seed(SEED)
    trainer = train.Img2MusicTrainer(build_model(config), va_loss, config.lambda_va, config.lambda_cc)
    train.compile_trainer(trainer, config, run_eagerly=True)
    songs = _songs(config)
    train.fit_songs(trainer, songs[1:], songs[:1], config.max_len, epochs, out_dir, SEED, resume=resume, verbose=0,
                    snapshot_epochs=snapshot_epochs)
    return trainer


def _numpy(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def _assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Trained tiny trainers, shared by the tests that only read them: straight (2 epochs), interrupted after
    1 and resumed, and with the VA term."""
    root = tmp_path_factory.mktemp("runs")
    config = _config()
    straight = _fit(config, root / "straight", EPOCHS)
    _fit(config, root / "resumed", 1)
    resumed = _fit(config, root / "resumed", EPOCHS, resume=True)
    with_va = _fit(dataclasses.replace(config, va_loss=True, lambda_va=1.0), root / "va", EPOCHS, va_loss=_va_loss())
    return {"root": root, "config": config, "straight": straight, "resumed": resumed, "va": with_va}


def test_the_epoch_2_snapshot_of_a_longer_run_is_the_2_epoch_run(runs, tmp_path):
    """Table 1 reads its 2-epoch rows from the 15-epoch runs: no schedule may depend on the epoch count."""
    _fit(runs["config"], tmp_path, EPOCHS + 1, snapshot_epochs=(EPOCHS,))
    snapshot = keras.saving.load_model(tmp_path / run_folder.snapshot_file(EPOCHS), compile=False)
    _assert_same(_numpy(runs["straight"].net.weights), _numpy(snapshot.weights))
    assert not (tmp_path / run_folder.snapshot_file(EPOCHS + 1)).exists()  # only the epochs asked for


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(runs):
    straight, resumed = runs["straight"], runs["resumed"]
    _assert_same(_numpy(straight.net.weights), _numpy(resumed.net.weights))
    # dropout seed states and Adam's slots too, so any further epoch would agree as well
    _assert_same(_numpy(straight.variables), _numpy(resumed.variables))
    _assert_same(_numpy(straight.optimizer.variables), _numpy(resumed.optimizer.variables))
    straight_rows = run_folder.read_history(runs["root"] / "straight" / run_folder.HISTORY_FILE)
    resumed_rows = run_folder.read_history(runs["root"] / "resumed" / run_folder.HISTORY_FILE)
    assert [row["epoch"] for row in resumed_rows] == [1, 2]
    for a, b in zip(straight_rows, resumed_rows):
        assert (a["loss"], a["val_loss"]) == (b["loss"], b["val_loss"])


def test_history_rows_and_checkpoint_are_written_every_epoch(runs):
    rows = run_folder.read_history(runs["root"] / "straight" / run_folder.HISTORY_FILE)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[-1]["loss"] < rows[0]["loss"]
    for row in rows:  # without a VA term the total is the cross-entropy and the VA columns stay empty
        assert row["loss"] == pytest.approx(row["cross_entropy"], rel=1e-6)
        assert row["va_loss"] is None and row["val_va_loss"] is None and row["val_loss"] > 0
    assert (runs["root"] / "straight" / run_folder.CHECKPOINT_FILE).is_file()


def test_va_term_changes_the_loss_but_not_the_weights(runs):
    # lambda_va = 1 (not the paper's 1e-5) so the VA term is large; it still moves no weight
    rows = run_folder.read_history(runs["root"] / "va" / run_folder.HISTORY_FILE)
    plain = run_folder.read_history(runs["root"] / "straight" / run_folder.HISTORY_FILE)
    for row, plain_row in zip(rows, plain):
        assert row["va_loss"] > 0 and row["val_va_loss"] > 0
        assert row["loss"] == pytest.approx(row["cross_entropy"] + row["va_loss"], rel=1e-5)
        assert row["cross_entropy"] == plain_row["cross_entropy"]
        assert row["loss"] != plain_row["loss"]
    _assert_same(_numpy(runs["straight"].net.weights), _numpy(runs["va"].net.weights))


def test_the_soft_va_term_moves_the_weights(runs, tmp_path):
    """Not the paper's term: `losses.SoftVALoss` has a gradient, so the same seed ends with other weights."""
    from img2music_tf.losses import SoftVALoss

    keras.utils.set_random_seed(SEED)
    config = VAPredictorConfig(max_notes=16, hidden_units=(8, 4))
    soft = SoftVALoss(Vocabulary.build([TOKENS]), VAPredictor(build_va_predictor(config), config))
    config = dataclasses.replace(runs["config"], va_loss=True, va_term="soft", lambda_va=1.0)
    trainer = _fit(config, tmp_path, EPOCHS, va_loss=soft)
    rows = run_folder.read_history(tmp_path / run_folder.HISTORY_FILE)
    assert all(np.isfinite(row["loss"]) and row["va_loss"] > 0 for row in rows)
    moved = [not np.array_equal(a, b) for a, b in zip(_numpy(runs["straight"].net.weights), _numpy(trainer.net.weights))]
    assert any(moved)


def _va_gradients(trainer, inputs, targets):
    """d(lambda_va * L_VA) / d(trainable weights), with each backend's own autodiff."""
    weights = trainer.net.trainable_variables
    if keras.backend.backend() == "jax":
        import jax

        def va_term(values):
            probabilities, _ = trainer.net.stateless_call(values, [v.value for v in trainer.net.non_trainable_variables], inputs)
            return trainer.lambda_va * trainer.va_loss(targets, probabilities)

        return list(jax.grad(va_term)([v.value for v in weights]))
    import tensorflow as tf

    with tf.GradientTape() as tape:
        va = trainer.lambda_va * trainer.va_loss(targets, trainer.net(inputs, training=True))
    return tape.gradient(va, weights)


def test_gradient_of_the_va_term_is_zero_or_disconnected(runs):
    trainer = runs["va"]
    (inputs,), targets = train.SongBatches(_songs(runs["config"]), runs["config"].max_len)[0]  # one group
    gradients = _va_gradients(trainer, inputs, targets)
    assert len(gradients) == len(trainer.net.trainable_variables) > 0
    for gradient in gradients:
        assert gradient is None or not np.any(keras.ops.convert_to_numpy(gradient))


def test_resume_needs_a_checkpoint_the_same_seed_and_the_same_model(runs, tmp_path):
    config = runs["config"]
    with pytest.raises(UserError, match="nothing to resume"):
        train.fit_songs(runs["straight"], _songs(config), [], config.max_len, 3, tmp_path, SEED, resume=True)
    with pytest.raises(UserError, match="seed"):
        train.fit_songs(runs["straight"], _songs(config), [], config.max_len, 3, runs["root"] / "straight",
                        SEED + 1, resume=True)
    bigger = dataclasses.replace(config, embed_dim=32)
    other = train.compile_trainer(train.Img2MusicTrainer(build_model(bigger)), bigger)
    with pytest.raises(UserError, match="does not match"):
        train.fit_songs(other, _songs(config), [], config.max_len, 3, runs["root"] / "straight", SEED, resume=True)
    checkpoint = runs["root"] / "straight" / run_folder.CHECKPOINT_FILE
    cut = tmp_path / "cut" / run_folder.CHECKPOINT_FILE  # a copy cut short
    cut.parent.mkdir(parents=True)
    cut.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(UserError, match=r"last.npz is damaged or incomplete \(.*\): copy or write it again"):
        train.fit_songs(runs["straight"], _songs(config), [], config.max_len, 3, tmp_path / "cut", SEED, resume=True)



def _write_piece(path, pitches):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, int(p), 0.3 * i, 0.3 * (i + 1)) for i, p in enumerate(pitches)]
    midi.instruments.append(piano)
    midi.write(str(path))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A prepared folder from 5 tiny MIDI pieces and 5 images listed in CSVs: 3 train, 1 val, 1 test pairs."""
    from PIL import Image

    from img2music_tf.data.prepare import prepare

    rng = np.random.default_rng(SEED)
    folder = tmp_path_factory.mktemp("data")
    music, images = ["path,valence,arousal"], ["path,valence,arousal"]
    for k in range(5):
        _write_piece(folder / f"m{k}.mid", 60 + rng.integers(-5, 8, size=4 + k))
        Image.new("RGB", (40, 40), tuple(int(c) for c in rng.integers(0, 255, 3))).save(folder / f"i{k}.png")
        valence, arousal = rng.uniform(1, 9, 2)
        music.append(f"m{k}.mid,{valence:.2f},{arousal:.2f}")
        images.append(f"i{k}.png,{valence:.2f},{arousal:.2f}")
    (folder / "music.csv").write_text("\n".join(music) + "\n")
    (folder / "images.csv").write_text("\n".join(images) + "\n")
    prepare("folder", "folder", folder / "prepared", music_source=folder / "music.csv",
            image_source=folder / "images.csv", seed=SEED, n_test=1, n_val=1)
    return folder / "prepared"


def test_train_command_writes_a_run_folder_that_resumes_and_loads(prepared, tmp_path, capsys):
    from img2music_tf import cli

    out = tmp_path / "run"
    args = ["train", "--data", str(prepared), "--preset", "Trans_enc3_dec3", "--scale", "tiny", "--out", str(out),
            "--image-weights", "none", "--seed", str(SEED), "--quiet"]
    assert cli.main(args + ["--epochs", "1"]) == 0
    assert cli.main(args + ["--epochs", "1"]) == 2  # a second run into the same folder needs --resume or --force
    assert "already holds a run" in capsys.readouterr().err
    written = json.loads((out / "config.json").read_text())
    for field in run_folder.LATER_MODEL_FIELDS:  # as a run written before these fields existed
        del written["model"][field]
    (out / "config.json").write_text(json.dumps(written))
    assert cli.main(args + ["--epochs", "2", "--resume"]) == 0
    assert [row["epoch"] for row in run_folder.read_history(out / run_folder.HISTORY_FILE)] == [1, 2]

    run = run_folder.load_run(out)
    info = run.info
    assert (info.seed, info.image_weights, info.backend) == (SEED, "none", keras.backend.backend())
    assert info.songs["train"] + len([d for d in info.dropped if d["split"] == "train"]) == 3
    assert run.config.epochs == 2 and run.config.vocab_size == len(run.vocabulary)
    assert info.vocabulary_sha256 == run.vocabulary.sha256  # load_run checks vocabulary.json against it
    features = run.image_features([prepared.parent / "i0.png"], progress=False)  # (1, F)
    # weights `none`: the run standardises features with its training statistics, and generation does the same
    assert len(info.feature_scaling["mean"]) == run.config.image_dim
    raw = extract_features([prepared.parent / "i0.png"], run.config.image_features, weights="none", seed=SEED,
                           progress=False)
    np.testing.assert_allclose(features, FeatureScaling(**info.feature_scaling).apply(raw), rtol=1e-6)
    tokens = np.zeros((1, run.config.max_len), np.int32)
    tokens[0, -1] = run.vocabulary.start_id
    probabilities = keras.ops.convert_to_numpy(run.model({"image": features, "tokens": tokens}))
    assert probabilities.shape == (1, len(run.vocabulary))
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)

    # compiled, as in real training: the same run with a (large) VA term, straight through 2 epochs, ends with
    # the weights of the interrupted-and-resumed run without it
    predictor_config = VAPredictorConfig(max_notes=16, hidden_units=(8, 4))
    VAPredictor(build_va_predictor(predictor_config), predictor_config).save(tmp_path / "va_predictor")
    va_config = dataclasses.replace(run.config, va_loss=True, lambda_va=1.0)
    result = training_run.train_run(prepared, va_config, tmp_path / "va_run", seed=SEED, image_weights="none",
                             va_predictor_dir=tmp_path / "va_predictor", verbose=0)
    assert result.history[-1]["va_loss"] > 0
    _assert_same(_numpy(run.model.weights), _numpy(result.model.weights))


def test_train_command_trains_in_row_groups_and_keeps_them_for_resuming(prepared, tmp_path, capsys):
    from img2music_tf import cli

    out = tmp_path / "run"
    args = ["train", "--data", str(prepared), "--preset", "Trans_enc3_dec3", "--scale", "tiny", "--out", str(out),
            "--image-weights", "none", "--seed", str(SEED), "--quiet"]
    assert cli.main(args + ["--group-rows", "0"]) == 2
    assert capsys.readouterr().err.strip() == "img2music: error: --group-rows must be at least 1, got 0"
    assert cli.main(args + ["--epochs", "1", "--group-rows", "4"]) == 0
    assert run_folder.RunInfo.read(out).model.group_rows == 4
    assert cli.main(args + ["--epochs", "2", "--resume"]) == 2  # another layout is another run
    assert "(model.group_rows: 4 -> None); resume with the same settings" in capsys.readouterr().err
    assert cli.main(args + ["--epochs", "2", "--resume", "--group-rows", "4"]) == 0
    assert len(run_folder.read_history(out / run_folder.HISTORY_FILE)) == 2


def test_va_preset_without_a_predictor_is_a_user_error(prepared, tmp_path, capsys):
    from img2music_tf import cli

    code = cli.main(["train", "--data", str(prepared), "--preset", "Trans_enc3_dec3_VA_Loss", "--scale", "tiny",
                     "--out", str(tmp_path / "run"), "--image-weights", "none"])
    assert code == 2 and "--va-predictor" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # a failed command leaves no empty output folder
    # a predictor folder that holds none fails before the run writes its config.json and vocabulary.json,
    # which would make the next try need --force
    code = cli.main(["train", "--data", str(prepared), "--preset", "Trans_enc3_dec3_VA_Loss", "--scale", "tiny",
                     "--out", str(tmp_path / "run"), "--image-weights", "none", "--va-predictor", str(tmp_path)])
    assert code == 2 and f"no trained VA predictor in {tmp_path}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_bad_image_weights_fail_before_the_songs_are_tokenised(prepared, tmp_path, capsys, monkeypatch):
    from img2music_tf import cli

    def tokenised(*args, **kwargs):
        raise AssertionError("tokenised before the image weights were checked")

    monkeypatch.setattr(training_run, "tokenised_songs", tokenised)
    code = cli.main(["train", "--data", str(prepared), "--preset", "Trans_enc3_dec3", "--scale", "tiny",
                     "--out", str(tmp_path / "run"), "--image-weights", "vgg.bin"])
    assert code == 2 and "image weights must be 'imagenet', 'torchvision', 'none' or a .h5" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_run_that_finished_no_epoch_is_trained_again_from_epoch_1(prepared, tmp_path, capsys, monkeypatch):
    from img2music_tf import cli, files

    fit_songs = train.fit_songs

    def killed(*args, **kwargs):  # Ctrl-C in epoch 1: config.json and vocabulary.json, no checkpoint, no model
        raise KeyboardInterrupt

    out = tmp_path / "run"
    args = ["train", "--data", str(prepared), "--preset", "Trans_enc3_dec3", "--scale", "tiny", "--out", str(out),
            "--image-weights", "none", "--epochs", "1", "--quiet"]
    monkeypatch.setattr(train, "fit_songs", killed)
    assert cli.main(args) == 130
    assert cli.main(args) == 130  # killed twice: the second try needs no --force
    assert sorted(p.name for p in out.iterdir()) == [run_folder.RUN_CONFIG_FILE, run_folder.VOCABULARY_FILE]
    # what a kill -9 while the first epoch ended leaves besides: its lock, the epoch's snapshot, a temporary file
    (out / files.LOCK_FILE).touch()
    (out / run_folder.snapshot_file(1)).parent.mkdir()
    (out / run_folder.snapshot_file(1)).write_bytes(b"PK")
    (out / run_folder.CHECKPOINT_FILE.parent).mkdir()
    (out / run_folder.CHECKPOINT_FILE.parent / ".last.npz.x.tmp").write_bytes(b"PK")
    capsys.readouterr()
    monkeypatch.setattr(train, "fit_songs", fit_songs)
    assert cli.main(args + ["--resume"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.splitlines()[0] == (f"note: {out} finished no epoch before it stopped, so there is nothing "
                                            "to resume: training starts at epoch 1")
    assert [row["epoch"] for row in run_folder.read_history(out / run_folder.HISTORY_FILE)] == [1]
    assert not (out / run_folder.SNAPSHOT_FOLDER).exists()
    assert sorted(p.name for p in (out / run_folder.CHECKPOINT_FILE.parent).iterdir()) == ["last.npz"]


def test_a_full_disk_in_epoch_1_is_one_line_and_the_corrected_rerun_needs_no_force(prepared, tmp_path, capsys,
                                                                                   monkeypatch):
    import errno
    import pathlib

    from img2music_tf import cli

    def full(self, data):  # the checkpoint, the first file written after the epoch
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "run"
    args = ["train", "--data", str(prepared), "--preset", "Trans_enc3_dec3", "--scale", "tiny", "--out", str(out),
            "--image-weights", "none", "--epochs", "1", "--quiet"]
    with monkeypatch.context() as patched:
        patched.setattr(pathlib.Path, "write_bytes", full)
        assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err == f"img2music: error: cannot write {out / run_folder.CHECKPOINT_FILE}: No space left on device\n"
    assert cli.main(args) == 0
    assert [row["epoch"] for row in run_folder.read_history(out / run_folder.HISTORY_FILE)] == [1]


def test_a_resume_from_a_cut_checkpoint_fails_before_writing_anything(prepared, tmp_path, capsys):
    from img2music_tf import cli

    out = tmp_path / "run"
    args = ["train", "--data", str(prepared), "--preset", "Trans_enc3_dec3", "--scale", "tiny", "--out", str(out),
            "--image-weights", "none", "--quiet"]
    assert cli.main(args + ["--epochs", "1"]) == 0
    checkpoint = out / run_folder.CHECKPOINT_FILE
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert cli.main(args + ["--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"img2music: error: {checkpoint} is damaged or incomplete")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # config.json still 1 epoch
    (out / run_folder.MODEL_FILE).rename(tmp_path / "model.keras")
    checkpoint.unlink()  # a run that stopped in epoch 1: resumed from epoch 1, whatever its settings were
    assert cli.main(args + ["--epochs", "1", "--resume", "--seed", "7"]) == 0
    assert run_folder.RunInfo.read(out).seed == 7


def test_total_loss_weights_the_terms():
    """L_total = lambda_va * L_VA + lambda_cc * L_CC (Section 3.3.4), as the trainer computes it."""
    config = _config()
    y = np.array([1, 2, 3], np.int32)  # (B,)
    y_pred = np.full((3, config.vocab_size), 1.0 / config.vocab_size, np.float32)  # (B, V): uniform
    cross_entropy = np.log(config.vocab_size)
    for lambda_va, lambda_cc in ((1e-5, 1.0), (1e-7, 0.5)):
        trainer = train.Img2MusicTrainer(build_model(config), lambda y, p: 3.0, lambda_va, lambda_cc)
        total = float(trainer.compute_loss(y=y, y_pred=y_pred))
        assert total == pytest.approx(lambda_cc * cross_entropy + lambda_va * 3.0, rel=1e-5)


def test_mixed_precision_trains_with_float32_losses_and_restores_the_policy(prepared, tmp_path):
    config = dataclasses.replace(_config(), mixed_precision=True, epochs=1)
    result = training_run.train_run(prepared, config, tmp_path / "bf16", seed=SEED, image_weights="none", verbose=0)
    assert np.isfinite(result.history[0]["loss"]) and result.history[0]["loss"] > 0
    assert keras.config.dtype_policy().name == "float32"  # the global policy is back
    assert result.model.get_layer("decoder").output_dense.dtype_policy.name == "float32"
    assert result.model.get_layer("midi_encoder").dtype_policy.name == "mixed_bfloat16"


def test_a_va_conditioned_run_trains_on_each_songs_own_va_label(prepared, tmp_path, monkeypatch):
    """Not in the paper: a `*_VA_Cond` net reads its song's music VA label, scaled to -1..1, after the picture's
    feature; the run folder loads and decodes with the VA a user asks for."""
    from img2music_tf.conditioning import scaled_va
    from img2music_tf.data.prepare import load_prepared
    from img2music_tf.run_folder import load_run

    data = load_prepared(prepared)
    seen = []
    fit = training_run.fit_model

    def recording(config, train_songs, val_songs, *args, **kwargs):
        seen.extend(train_songs)
        return fit(config, train_songs, val_songs, *args, **kwargs)

    monkeypatch.setattr(training_run, "fit_model", recording)
    config = dataclasses.replace(_config("Trans_enc3_dec3_VA_Cond"), epochs=1)
    result = training_run.train_run(prepared, config, tmp_path / "cond", seed=SEED, image_weights="none", verbose=0)
    labels = {pair.music.id: (pair.music.valence, pair.music.arousal) for pair in data.pairs_in("train")}
    assert len(seen) == len(labels)
    for song in seen:
        assert song.feature.shape == (config.image_dim + 2,)
        np.testing.assert_allclose(song.feature[-2:], scaled_va(labels[song.id]))
    run = load_run(result.out_dir)
    assert run.config.va_condition == "with_image"
    picture = data.pairs_in("test")[0].image.path
    inputs = run.net_inputs([picture, picture], [(1.0, 9.0), (9.0, 1.0)], progress=False)  # (2, F + 2)
    np.testing.assert_allclose(inputs[:, -2:], [[-1, 1], [1, -1]])
    np.testing.assert_array_equal(inputs[0, :-2], inputs[1, :-2])
