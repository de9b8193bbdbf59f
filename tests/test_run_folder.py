"""The run folder: damaged or edited files are one-line UserErrors, never a traceback or a silently wrong run."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from img2music_tf import cli, run_folder
from img2music_tf.errors import UserError
from img2music_tf.vocabulary import Vocabulary


@pytest.fixture
def run(tiny_run, tmp_path):
    """A copy of the tiny run for a test to damage."""
    return shutil.copytree(tiny_run, tmp_path / "run")


def test_the_tiny_run_loads(run):
    loaded = run_folder.load_run(run)
    assert loaded.info.vocabulary_sha256 == loaded.vocabulary.sha256
    assert loaded.model.output_shape[-1] == len(loaded.vocabulary)


def test_truncated_model_is_a_user_error(run, tmp_path, capsys):
    model = run / run_folder.MODEL_FILE
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(UserError, match="model.keras is damaged or incomplete"):
        run_folder.load_run(run)
    picture = tmp_path / "pic.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(picture)
    assert cli.main(["generate", str(picture), "--run", str(run), "--out", str(tmp_path / "music"), "--no-wav"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damaged or incomplete" in err
    assert not (tmp_path / "music").exists()  # the output folder it made is gone again


def test_a_complete_zip_that_is_not_the_model_is_a_user_error(run):
    import zipfile

    with zipfile.ZipFile(run / run_folder.MODEL_FILE, "w") as archive:  # another archive renamed model.keras
        archive.writestr("config.json", "{}")
    with pytest.raises(UserError, match=r"^cannot load the model .*model.keras \(.+\): copy it or train it again$"):
        run_folder.load_run(run)


@pytest.mark.parametrize("text", ['{"model": {"vocab', "[1, 2]", '{"seed": 3}', "\xff\xfe binary"])
def test_truncated_or_keyless_config_is_a_user_error(run, text):
    (run / run_folder.RUN_CONFIG_FILE).write_bytes(text.encode("latin-1"))
    with pytest.raises(UserError, match="config.json") as error:
        run_folder.load_run(run)
    assert "\n" not in str(error.value)


def test_a_vocabulary_edited_without_changing_its_size_is_detected(run):
    tokens = Vocabulary.load(run / run_folder.VOCABULARY_FILE).tokens
    i, j = tokens.index("C4@1.0"), tokens.index("E4@0.5")
    tokens[i], tokens[j] = tokens[j], tokens[i]
    Vocabulary(tokens).save(run / run_folder.VOCABULARY_FILE)
    with pytest.raises(UserError, match="vocabulary.json is not the one the model was trained with"):
        run_folder.load_run(run)
    # a run written before the checksum existed is accepted unchecked
    config = json.loads((run / run_folder.RUN_CONFIG_FILE).read_text())
    del config["vocabulary_sha256"]
    (run / run_folder.RUN_CONFIG_FILE).write_text(json.dumps(config))
    assert run_folder.load_run(run).info.vocabulary_sha256 is None


def test_the_checksum_follows_the_tokens_in_id_order():
    tokens = ["<pad>", "<end>", "<start>", "A", "B"]
    assert Vocabulary(tokens).sha256 == Vocabulary(list(tokens)).sha256
    assert Vocabulary(tokens).sha256 != Vocabulary(tokens[:3] + ["B", "A"]).sha256


def test_a_run_trained_elsewhere_brings_tokens_counts_as_finished_and_cannot_generate(run):
    """The GPU queue's runs come back as test tokens without weights: finished for the reproduction, scored
    from the tokens, and a one-line error for `generate`, which needs the net."""
    (run / run_folder.MODEL_FILE).unlink()
    run_folder.write_history(run / run_folder.HISTORY_FILE, [{"epoch": 1, "loss": 5.0, "seconds": 1.0}])
    assert not run_folder.is_finished(run)
    tokens = {"img1": ["<start>", "C4@1.0", "<end>"], "img2": ["<start>", "<end>"]}
    run_folder.write_test_tokens(run, 1, tokens)
    assert run_folder.is_finished(run) and run_folder.read_test_tokens(run, 1) == tokens
    assert run_folder.read_test_tokens(run, 2) is None
    with pytest.raises(UserError, match="holds its test images' generated tokens, not its weights"):
        run_folder.load_run(run)
    (run / run_folder.test_tokens_file(1)).write_text('{"images": 3}')
    with pytest.raises(UserError, match="cannot read the generated tokens"):
        run_folder.read_test_tokens(run, 1)


def test_a_run_holds_the_epochs_whose_music_it_can_give(run):
    """Its last epoch (final model), a snapshot's epoch, or an epoch whose test tokens it brought; no other."""
    last = run_folder.trained_epochs(run)
    assert run_folder.holds_epoch(run, last) and not run_folder.holds_epoch(run, last + 1)
    (run / run_folder.MODEL_FILE).unlink()
    assert not run_folder.holds_epoch(run, last)
    run_folder.write_test_tokens(run, last + 2, {"img1": ["<start>", "<end>"]})  # a GPU run stopped later
    assert run_folder.holds_epoch(run, last + 2)
    (run / run_folder.snapshot_file(last + 1)).parent.mkdir(exist_ok=True)
    (run / run_folder.snapshot_file(last + 1)).write_bytes(b"")
    assert run_folder.holds_epoch(run, last + 1)
    (run / run_folder.RUN_CONFIG_FILE).unlink()
    assert not run_folder.holds_epoch(run, last + 1)


@pytest.mark.parametrize(("edit", "words"), [
    (lambda config: config["model"].pop("max_len"), "lacks model.max_len: it was edited"),
    (lambda config: config.pop("image_weights"), "lacks image_weights"),
    (lambda config: config.update(feature_scaling={"mean": [0.0, float("nan")], "std": [1.0, 1.0]}),
     "damaged feature_scaling"),
    (lambda config: config.update(feature_scaling={"mean": [0.0], "std": [1.0, 1.0]}), "damaged feature_scaling"),
])
def test_a_config_that_lost_a_field_or_holds_a_damaged_scaling_is_refused(run, edit, words):
    config = json.loads((run / run_folder.RUN_CONFIG_FILE).read_text())
    edit(config)
    (run / run_folder.RUN_CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(UserError, match=words):
        run_folder.load_run(run)


def test_a_feature_scaling_of_another_length_than_the_features_is_refused(run, tmp_path):
    config = json.loads((run / run_folder.RUN_CONFIG_FILE).read_text())
    config["feature_scaling"] = {"mean": [0.0] * 3, "std": [1.0] * 3}
    (run / run_folder.RUN_CONFIG_FILE).write_text(json.dumps(config))
    picture = tmp_path / "pic.png"
    Image.new("RGB", (40, 30), (20, 120, 40)).save(picture)
    with pytest.raises(UserError, match="feature_scaling has 3 dimensions, its CNN gives"):
        run_folder.load_run(run).image_features([picture], progress=False)
