"""The shipped model's measurement (reproduce/pretrained.py) end to end on a tiny run: every decoding's notes,
muspy metrics and emotion alignment in the record, the model copied into the package only when asked."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import REPO, SEED


def script():
    spec = importlib.util.spec_from_file_location("reproduce_pretrained", REPO / "reproduce" / "pretrained.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Built-in data, a 1-epoch tiny run and a tiny VA predictor, measured with --measure-only as the shipped model."""
    from img2music_tf import pretrained
    from img2music_tf.study import pipeline
    from img2music_tf.experiments import SCALES
    from img2music_tf.presets import get_preset

    root = tmp_path_factory.mktemp("pretrained")
    scale = SCALES["tiny"]
    data = pipeline.prepare_data("builtin", "builtin", root / "data", scale, seed=SEED)
    config = get_preset("Trans_enc3_dec3", scale=scale, epochs=1)
    pipeline.train_va_predictor(data, root / "va", scale, config.va_batchnorm, seed=SEED)
    pipeline.train_model(data, config, root / "run", seed=SEED, image_weights="none", max_songs=scale.max_songs,
                         verbose=0)
    shipped = sorted((path.name, path.stat().st_mtime_ns) for path in (root / "run").iterdir())
    argv = ["--data", str(root / "data"), "--va-predictor", str(root / "va"), "--out", str(root / "results"),
            "--bench", str(root / "no-bench.json")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pretrained, "MODEL_FOLDER", root / "run")
        assert script().main(["--measure-only", *argv]) == 0
    assert sorted((path.name, path.stat().st_mtime_ns) for path in (root / "run").iterdir()) == shipped
    return {"root": root, "argv": argv, "result": json.loads((root / "results" / "pretrained.json").read_text()),
            "markdown": (root / "results" / "pretrained.md").read_text()}


def test_every_decoding_reports_notes_metrics_and_emotion_alignment(tiny):
    from img2music_tf.metrics import METRIC_NAMES
    from img2music_tf.pretrained import DEFAULT_GENERATION

    result, rows = tiny["result"], tiny["result"]["decoding"]
    labels = list(script().decodings(DEFAULT_GENERATION))  # greedy, top-k with one try, the shipped default
    assert result["measure_only"] is True and result["va_predictor"]["shipped"] is False and result["speed"] is None
    assert sorted(rows) == sorted(labels) and rows[labels[-1]]["generation"] == DEFAULT_GENERATION
    for row in rows.values():
        assert row["pieces"] == result["test_images"] >= row["with_notes"]
        for name in METRIC_NAMES:
            assert row["metrics"][name]["n_defined"] <= row["pieces"] and "mean" in row["metrics"][name]
        assert "music_quality_loss" in row["metrics"] and len(row["metrics"]["music_quality_loss_ci"]) == 2
        alignment = row["emotion_alignment"]
        if row["with_notes"]:
            assert alignment["n"] == row["with_notes"]
            assert set(alignment["own_music"]) == {"valence", "arousal", "overall"}
        else:
            assert alignment is None
    one_try = rows[f"top-{DEFAULT_GENERATION['top_k']} sampling, one try"]
    assert rows[labels[-1]]["with_notes"] >= one_try["with_notes"]  # the note rule keeps every piece with notes
    for words in (*labels, "Music_Quality_Loss", "pitch entropy", "alignment, own music", "not shipped"):
        assert words in tiny["markdown"]


def test_the_card_quotes_the_speed_record(tmp_path):
    record = {"commit": "abc1234", "repeats": 5, "figures": {
        name: {"median": 1.0, "min": 0.5, "max": 2.0, "n": 5, "load": 1.5}
        for name in ("`img2music generate` x --out DIR: wall", "start-up: imports", "x (23 tokens), first: decode",
                     "x (23 tokens), later: total", "x (23 tokens), first: total",
                     "start-up: process (interpreter, imports, model load)")}}
    (tmp_path / "bench_generate.json").write_text(json.dumps(record))
    speed = script().read_speed(tmp_path / "bench_generate.json")
    assert list(speed["figures"]) == ["start-up: process (interpreter, imports, model load)",
                                      "x (23 tokens), first: total", "x (23 tokens), later: total",
                                      "`img2music generate` x --out DIR: wall"]  # in this order, not sorted


def test_measuring_a_run_ships_it_into_the_package(tiny, tmp_path, monkeypatch):
    from img2music_tf import pretrained

    monkeypatch.setattr(pretrained, "MODEL_FOLDER", tmp_path / "package")
    argv = [arg if arg != str(tiny["root"] / "results") else str(tmp_path / "results") for arg in tiny["argv"]]
    assert script().main(["--run", str(tiny["root"] / "run"), *argv]) == 0
    for name in pretrained.SHIPPED_FILES:
        assert (tmp_path / "package" / name).read_bytes() == (tiny["root"] / "run" / name).read_bytes()


def test_data_prepared_from_other_inputs_is_one_line(tiny, tmp_path, monkeypatch, capsys):
    from img2music_tf import pretrained

    other = tmp_path / "data"
    other.mkdir()
    for path in (tiny["root"] / "data").iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["inputs"]["seed"] += 1
    (other / "manifest.json").write_text(json.dumps(manifest))
    argv = ["--run", str(tiny["root"] / "run"), "--data", str(other), "--out", str(tmp_path / "results")]
    monkeypatch.setattr(pretrained, "MODEL_FOLDER", tmp_path / "package")
    assert script().main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "other inputs" in error
    assert not (tmp_path / "results").exists() and not (tmp_path / "package").exists()


def test_the_shipped_model_gives_every_real_test_picture_music_of_the_rule(emotion6_source, tmp_path):
    """Four Emotion6 test pictures: with the shipped default, each piece meets the length rule, and a piece
    that met it at the first try is that piece."""
    import dataclasses
    import zipfile

    from img2music_tf.decode import GenerationConfig, generate_tokens, picture_stream
    from img2music_tf.pretrained import DEFAULT_GENERATION, MODEL_FOLDER
    from img2music_tf.run_folder import load_run

    if not (MODEL_FOLDER / "model.keras").is_file():
        pytest.skip("no model shipped in this checkout (make pretrained)")
    pictures = []
    with zipfile.ZipFile(emotion6_source) as archive:
        for emotion, number in (("anger", 127), ("disgust", 220), ("fear", 244), ("surprise", 55)):
            pictures.append(tmp_path / f"{emotion}_{number}.jpg")
            pictures[-1].write_bytes(archive.read(f"Emotion6/images/{emotion}/{number}.jpg"))
    run = load_run(MODEL_FOLDER)
    features = run.image_features(pictures, progress=False)  # (4, F)
    streams = [picture_stream(picture) for picture in pictures]
    default = GenerationConfig(**{**DEFAULT_GENERATION, "max_len": run.config.max_len})
    ruled, first = (generate_tokens(run.model, features, run.vocabulary, config, progress=False, streams=streams)
                    for config in (default, dataclasses.replace(default, tries=1)))
    assert all(default.long_enough(piece) for piece in ruled)
    assert all(ruled[i] == piece for i, piece in enumerate(first) if default.long_enough(piece))


def test_a_candidate_is_measured_beside_the_card_and_nothing_is_copied(tiny, monkeypatch):
    from img2music_tf import pretrained

    run, out = tiny["root"] / "run", tiny["root"] / "candidate"
    monkeypatch.setattr(pretrained, "MODEL_FOLDER", tiny["root"] / "package")  # shipping would create it
    argv = [arg if arg != str(tiny["root"] / "results") else str(out) for arg in tiny["argv"]]
    assert script().main(["--candidate", str(run), *argv]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["pretrained_candidate.json", "pretrained_candidate.md"]
    result = json.loads((out / "pretrained_candidate.json").read_text())
    assert result["measure_only"] is True and result["model_folder"].endswith("run")
    assert result["decoding"] == tiny["result"]["decoding"]  # the same run as measured as the shipped model
    assert not (tiny["root"] / "package").exists()
