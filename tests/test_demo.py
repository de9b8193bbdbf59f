"""`img2music demo` end to end (a tiny one in the fast suite), and `img2music generate` on the run it trains.

The tiny demo runs once per module; the generate tests reuse its run folder, so
a real trained run backs the run-folder errors (missing files, vocabulary that
does not match the model).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import wave

import pytest
from conftest import SEED

from img2music_tf import cli


def check_piece_files(folder, stem, n_notes=None):
    """The .mid reads with pretty_midi and holds notes exactly when the piece has any (`n_notes`; None: it
    must have notes); the .wav holds audio; the piano roll is a real PNG. A rests-only piece (what greedy
    decoding gives after little training) is a valid MIDI file without notes."""
    import pretty_midi
    from PIL import Image

    midi = pretty_midi.PrettyMIDI(str(folder / f"{stem}.mid"))
    notes = sum(len(instrument.notes) for instrument in midi.instruments)
    assert notes > 0 if n_notes is None else (notes > 0) == (n_notes > 0)
    with wave.open(str(folder / f"{stem}.wav")) as audio:
        assert audio.getnframes() > audio.getframerate() * 0.5  # at least the 1 s tail, really
    with Image.open(folder / f"{stem}-pianoroll.png") as image:
        assert image.format == "PNG" and image.width >= 400 and image.height >= 200


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    stdout = io.StringIO()  # capsys is function-scoped
    with contextlib.redirect_stdout(stdout):
        status = cli.main(["demo", "--tiny", "--out", str(out), "--seed", str(SEED)])
    return out, status, stdout.getvalue()


@pytest.fixture
def picture(tmp_path):
    from PIL import Image

    path = tmp_path / "sunset.jpg"
    Image.new("RGB", (64, 48), (240, 150, 60)).save(path)
    return path


@pytest.mark.parametrize(("given", "error"), [
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--images", "-2"], "--images must be at least 1, got -2"),
    (["--image-weights", "bogus"], "image weights must be 'imagenet', 'torchvision', 'none' or a .h5/.weights.h5 file, got bogus"),
])
def test_bad_demo_options_fail_before_any_work(tmp_path, capsys, given, error):
    assert cli.main(["demo", "--tiny", "--out", str(tmp_path / "demo"), *given]) == 2
    assert capsys.readouterr() == ("", f"img2music: error: {error}\n")
    assert list(tmp_path.iterdir()) == []


def test_tiny_demo_writes_playable_music(tiny_demo):
    out, status, stdout = tiny_demo
    assert status == 0
    for method in ("greedy", "sampled"):
        summary = json.loads((out / "music" / method / "summary.json").read_text())
        assert len(summary["pieces"]) == 2
        assert summary["generation"]["method"] == ("greedy" if method == "greedy" else "sample")
        for piece in summary["pieces"]:
            check_piece_files(out / "music" / method, piece["midi"][: -len(".mid")], piece["n_notes"])
            assert piece["tokens"][0] == "<start>" and len(piece["tokens"]) <= 32  # tiny preset max_len
            assert len(piece["music_va"]) == 2 and len(piece["image_va"]) == 2
    assert "random weights" in stdout and "torchvision" in stdout  # --tiny takes none; the note names the default
    assert str(out / "music") in stdout


def test_generate_with_the_demo_run(tiny_demo, picture, tmp_path, capsys):
    out, _, _ = tiny_demo
    status = cli.main(["generate", str(picture), "--run", str(out / "run"), "--out", str(tmp_path / "music"),
                       "--method", "sample", "--top-k", "5", "--seed", str(SEED), "--image-va", "6,4"])
    assert status == 0
    check_piece_files(tmp_path / "music", "sunset")
    printed = capsys.readouterr().out
    assert "image VA V 6.00 A 4.00" in printed and "music VA V" in printed  # predictor recorded by the run
    summary = json.loads((tmp_path / "music" / "summary.json").read_text())
    assert summary["generation"]["method"] == "sample" and summary["generation"]["top_k"] == 5


def test_generate_run_folder_missing_files(tiny_demo, picture, tmp_path, capsys):
    out, _, _ = tiny_demo
    run = shutil.copytree(out / "run", tmp_path / "run")
    (run / "model.keras").unlink()
    status = cli.main(["generate", str(picture), "--run", str(run), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "model.keras" in err


def test_generate_vocabulary_does_not_match_model(tiny_demo, picture, tmp_path, capsys):
    from img2music_tf.vocabulary import Vocabulary

    out, _, _ = tiny_demo
    run = shutil.copytree(out / "run", tmp_path / "run")
    Vocabulary(["<pad>", "<end>", "<start>", "C4@1.0"]).save(run / "vocabulary.json")
    status = cli.main(["generate", str(picture), "--run", str(run), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "vocabulary" in err


@pytest.mark.slow
def test_full_demo(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path)]) == 0
    for method in ("greedy", "sampled"):
        summary = json.loads((tmp_path / "music" / method / "summary.json").read_text())
        assert len(summary["pieces"]) == 4
        for piece in summary["pieces"]:
            check_piece_files(tmp_path / "music" / method, piece["midi"][: -len(".mid")], piece["n_notes"])
    assert any(piece["n_notes"] > 0 for piece in summary["pieces"])  # sampled music is not silent
