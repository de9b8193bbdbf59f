"""The reproduction (`img2music reproduce`, behind reproduce/table1.py, table2.py, figure3.py) end to end, tiny.

One module-scoped run trains every preset of the three artefacts at scale "tiny" on a small
built-in data set for 1 epoch and scores 4 test pieces, so none of the targets can silently
break; the unit tests check the numbers the tables are made of.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, SEED
from img2music_tf import cli, metrics
from img2music_tf.study import report
from img2music_tf.experiments import SCALES, trained_preset
from img2music_tf.metrics import FIRST_PIECES
from img2music_tf.paper_numbers import FIGURE3, TABLE1, TABLE2, TABLE2_AUTHORS_100_PIECES

TINY = ["--scale", "tiny", "--data", "builtin", "--epochs", "1", "--seeds", "1"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Run table2.py then figure3.py once (one shared work folder, as the Makefile targets share runs/)."""
    root = tmp_path_factory.mktemp("reproduce")
    argv = [*TINY, "--out", str(root / "results"), "--work", str(root / "work")]
    for artefact in ("table2", "figure3"):
        assert cli.main(["reproduce", artefact, *argv]) == 0
    outputs = {name: json.loads((root / "results" / f"{name}.json").read_text()) for name in ("table2", "figure3")}
    return {**outputs, "results": root / "results", "argv": argv}


def _check_scores(seed: dict, training_reference) -> None:
    """One run's test pieces exist as MIDI files and its table numbers follow from their metrics."""
    from img2music_tf.metrics import METRIC_NAMES, PAPER_REFERENCE, music_quality_loss

    assert seed["run_config"]["model"]["epochs"] == 1
    pieces = seed["pieces"]
    assert len(pieces) == SCALES["tiny"].n_test
    for piece in pieces:
        assert (Path(seed["run"]) / piece["midi"]).is_file()
        assert 2 <= piece["n_tokens"] <= seed["run_config"]["model"]["max_len"]
        assert len(piece["generated_music_va"]) == 2 and all(map(math.isfinite, piece["generated_music_va"]))
    table = np.array([[piece["metrics"][name] for name in METRIC_NAMES] for piece in pieces], float)  # (N, 3)
    means = np.nanmean(table, axis=0)
    aggregate = seed["aggregate"]["all"]
    assert aggregate["music_quality_loss"] == pytest.approx(music_quality_loss(means, PAPER_REFERENCE))
    assert aggregate["music_quality_loss_training_reference"] == pytest.approx(music_quality_loss(means, training_reference))


@pytest.mark.slow
def test_table1_scores_every_preset_on_the_test_pieces(tiny):
    assert cli.main(["reproduce", "table1", *tiny["argv"]]) == 0
    result = json.loads((tiny["results"] / "table1.json").read_text())
    lstm_run = result["rows"]["LSTM_enc2"]["seeds"][0]["run"]
    assert lstm_run == tiny["figure3"]["curves"]["LSTM_enc2"][0]["run"]  # 1 epoch in both here: reused
    assert set(result["rows"]) == set(TABLE1)
    for preset, row in result["rows"].items():
        (seed,) = row["seeds"]
        assert seed["run_config"]["model"]["name"] == trained_preset(preset)  # SAME_WEIGHTS rows read another run
        _check_scores(seed, result["reference"]["training_music"])
    markdown = (tiny["results"] / "table1.md").read_text()
    assert "**Image weights: `none`**" in markdown
    assert "Missing at paper scale" in markdown
    for preset, numbers in TABLE1.items():
        assert f"| {preset} | paper |" in markdown and f"{numbers['music_quality_loss']:.4f}" in markdown


def test_table2_reports_both_sample_sizes_and_trains_the_va_row_with_the_predictor(tiny):
    result = tiny["table2"]
    rows = result["rows"]
    assert set(rows) == set(TABLE2)
    va_run = rows["Trans_enc3_dec3_VA_Loss"]["seeds"][0]
    plain_run = rows["Trans_enc3_dec3"]["seeds"][0]
    assert va_run["run_config"]["model"]["va_loss"] and va_run["run_config"]["va_predictor"] is not None
    # one training serves both rows: the VA term has no gradient, so their weights are the same
    assert plain_run["trained_preset"] == "Trans_enc3_dec3_VA_Loss" and plain_run["run"] == va_run["run"]
    history = rows["Trans_enc3_dec3_VA_Loss"]["seeds"][0]["history"]
    assert history[0]["va_loss"] is not None and history[0]["va_loss"] >= 0
    assert set(rows["Trans_enc3_dec3"]["seeds"][0]["aggregate"]) == {"all", f"first{FIRST_PIECES}"}
    for row in rows.values():
        _check_scores(row["seeds"][0], result["reference"]["training_music"])
    markdown = (tiny["results"] / "table2.md").read_text()
    for value in TABLE2_AUTHORS_100_PIECES.values():
        assert f"{value:.4f}" in markdown
    gap = abs(TABLE2["Trans_enc3_dec3"]["music_quality_loss"] - TABLE2["Trans_enc3_dec3_VA_Loss"]["music_quality_loss"])
    assert "the weights of the Trans_enc3_dec3_VA_Loss run" in markdown and f"{gap:.4f}" in markdown
    assert "Emotion alignment" in markdown


def test_figure3_reuses_the_table_runs_and_draws_the_curves(tiny):
    result = tiny["figure3"]
    curves = result["curves"]
    assert curves["Trans_enc3_dec3_VA_Loss"][0]["run"] == tiny["table2"]["rows"]["Trans_enc3_dec3_VA_Loss"]["seeds"][0]["run"]
    for runs in curves.values():
        assert [row["epoch"] for row in runs[0]["history"]] == [1]
        assert math.isfinite(runs[0]["history"][0]["loss"])
    assert result["paper_endpoints"]["LSTM_enc2"] == {"epoch_1": FIGURE3["LSTM_enc2"][0], "epoch_15": FIGURE3["LSTM_enc2"][1]}
    with Image.open(tiny["results"] / "figure3.png") as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 400
    assert "5.82" in (tiny["results"] / "figure3.md").read_text()


def test_several_seeds_render_mean_and_spread(tiny):
    result = copy.deepcopy(tiny["table2"])
    row = result["rows"]["Trans_enc3_dec3"]
    second = copy.deepcopy(row["seeds"][0])
    second["seed"] = 1
    second["aggregate"]["all"]["music_quality_loss"] += 0.5
    row["seeds"].append(second)
    row["across_seeds"] = metrics.across_seeds([seed["aggregate"] for seed in row["seeds"]])
    spread = row["across_seeds"]["all"]["music_quality_loss"]
    assert spread["n_seeds"] == 2 and spread["sd"] == pytest.approx(0.5 / math.sqrt(2))
    assert f"± {0.5 / math.sqrt(2):.4f}" in report.markdown_table(result)


def test_bad_option_is_one_line_and_exit_2(capsys, tmp_path):
    argv = [*TINY, "--seeds", "0", "--out", str(tmp_path), "--work", str(tmp_path)]
    assert cli.main(["reproduce", "table1", *argv]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "--seeds must be at least 1" in error
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_out_fails_before_the_data_and_the_training(capsys, tmp_path, monkeypatch):
    from img2music_tf.study import pipeline

    monkeypatch.setattr(pipeline, "prepare_data", lambda *a, **k: pytest.fail("prepared before --out was checked"))
    monkeypatch.setattr(pipeline, "train_model", lambda *a, **k: pytest.fail("trained before --out was checked"))
    (tmp_path / "a_file").write_text("x")
    argv = [*TINY, "--image-weights", "none", "--out", str(tmp_path / "a_file" / "results"), "--work", str(tmp_path)]
    assert cli.main(["reproduce", "table1", *argv]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (f"img2music: error: cannot write to output folder {tmp_path / 'a_file' / 'results'}: "
                     f"{tmp_path / 'a_file'} is a file, not a folder")
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"]


def test_a_folder_without_a_va_predictor_fails_before_the_data_and_the_training(capsys, tmp_path, monkeypatch):
    from img2music_tf.study import pipeline

    monkeypatch.setattr(pipeline, "prepare_data", lambda *a, **k: pytest.fail("prepared before the predictor was read"))
    (tmp_path / "va").mkdir()
    argv = [*TINY, "--image-weights", "none", "--out", str(tmp_path / "results"), "--work", str(tmp_path / "work"),
            "--va-predictor", str(tmp_path / "va")]
    assert cli.main(["reproduce", "table1", *argv]) == 2
    assert capsys.readouterr().err.startswith(f"img2music: error: no trained VA predictor in {tmp_path / 'va'}")
    assert [p.name for p in tmp_path.iterdir()] == ["va"]


def test_scripts_are_the_reproduce_command(tmp_path):
    """reproduce/table1.py runs `img2music reproduce table1`: its --help is the command's, bad options exit 2."""
    script = REPO / "reproduce" / "table1.py"
    shown = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "Table 1: Ablation experiments" in shown.stdout
    bad = subprocess.run([sys.executable, str(script), "--seeds", "0", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "--seeds must be at least 1" in bad.stderr


def test_fidelity_code_reaches_the_music_va_predictor(tiny, tmp_path):
    """`--fidelity code` trains (and names) its own VA predictor without BatchNorm, as the EIMG code."""
    work = Path(tiny["argv"][tiny["argv"].index("--work") + 1])
    argv = [*TINY, "--fidelity", "code", "--out", str(tmp_path), "--work", str(work)]
    assert cli.main(["reproduce", "table2", *argv]) == 0
    code = json.loads((tmp_path / "table2.json").read_text())
    paper_predictor, code_predictor = Path(tiny["table2"]["va_predictor"]), Path(code["va_predictor"])
    assert (paper_predictor.name, code_predictor.name) == ("va_predictor-paper", "va_predictor-code")
    assert json.loads((paper_predictor / "config.json").read_text())["batchnorm"] is True
    assert json.loads((code_predictor / "config.json").read_text())["batchnorm"] is False
    va_run = code["rows"]["Trans_enc3_dec3_VA_Loss"]["seeds"][0]["run_config"]
    assert va_run["model"]["fidelity"] == "code" and va_run["model"]["va_batchnorm"] is False
    assert Path(va_run["va_predictor"]) == code_predictor.resolve()


def test_tables_report_memorisation_diversity_and_the_unigram_baseline(tiny):
    seed = tiny["table2"]["rows"]["Trans_enc3_dec3"]["seeds"][0]
    pieces = seed["pieces"]
    memo = seed["aggregate"]["all"]["memorisation"]
    assert memo["copied"] == sum(piece["memorisation"]["copied"] for piece in pieces)
    assert memo["distinct_pieces"] == len({piece["tokens"] for piece in pieces}) <= memo["distinct_images"]
    for piece in pieces:
        assert piece["tokens"].split()[0] == "<start>" and len(piece["tokens"].split()) == piece["n_tokens"]
        assert piece["memorisation"]["longest_run"] <= piece["n_tokens"]
    assert 0 < seed["unigram_cross_entropy"] < math.log(seed["run_config"]["model"]["vocab_size"])
    assert "## Memorisation and diversity" in (tiny["results"] / "table2.md").read_text()


def test_regimes_table_puts_the_paper_beside_each_regime(tiny):
    markdown = report.markdown_regimes({"authors": {"table2": tiny["table2"]}, "eimg": {}})
    assert "| Trans_enc3_dec3 | paper (4 pieces) | paper | | 1.2853 |" in markdown
    assert "| Trans_enc3_dec3 | ours, authors | tiny | 4 |" in markdown
    assert "| Trans_enc3_dec3 | ours, eimg | | | not run |" in markdown


# ---------------------------------------------------------------- tables rendered from small hand-made results


def _piece(text: str) -> dict:
    """A test piece as `pipeline.generate_test_music` records it, scored from its tokens without a file."""
    from img2music_tf.study.pipeline import most_common_token

    sequence = ["<start>", *text.split(), "<end>"]
    return {"tokens": " ".join(sequence), "n_tokens": len(sequence), "most_common_token": most_common_token(sequence[1:]),
            "metrics": metrics.token_metrics(sequence)}


def _seed_record(seed: int, texts: list[str]) -> dict:
    pieces = [_piece(text) for text in texts]
    return {"seed": seed, "run": f"runs/seed{seed}", "history": [], "train_seconds": 1.0,
            "generate_and_score_seconds": 1.0, "pieces": pieces,
            "run_config": {"image_weights": "none", "songs": {"train": 4}, "dropped": [], "model": {"epochs": 1}},
            "aggregate": metrics.aggregate_pieces(pieces, metrics.PAPER_REFERENCE)}


def _table_result(rows: dict[str, list[dict]]) -> dict:
    """A Table 1 result dict as `artefacts.run_artefact` writes it, with the given {preset: seed records}."""
    return {
        "artefact": "table1", "title": "Table 1", "wall_seconds": 1.0, "missing_at_paper_scale": [],
        "settings": {"scale": "tiny", "epochs": 1, "seeds": sorted({s["seed"] for r in rows.values() for s in r}),
                     "fidelity": "paper", "image_weights": "none"},
        "environment": {"backend": "tensorflow", "backend_version": "x", "keras": "x", "device": "CPU"},
        "data": {"split": {"train": 4}, "train_songs_offered": 4, "test_pieces_scored": 3, "test_images_distinct": 3,
                 "sources": {"music": "builtin", "images": "builtin"}},
        "reference": {"paper": list(metrics.PAPER_REFERENCE), "training_music": list(metrics.PAPER_REFERENCE)},
        "paper": {},
        "rows": {preset: {"seeds": runs, "across_seeds": metrics.across_seeds([r["aggregate"] for r in runs])}
                 for preset, runs in rows.items()},
    }


ONE_PITCH, CHORD_LOOP, SILENT = "C4@1.0 C4@1.0", "0.4.7@1.0 r@0.5 0.4.7@1.0", "r@0.25 r@0.25"
DYAD, VARIED = "0.4@1.0 0.4@1.0", "C4@1.0 E4@1.0"


def test_several_seeds_render_a_row_per_seed_beside_the_mean_and_sd():
    from img2music_tf.metrics import METRIC_NAMES, music_quality_loss

    seeds = [_seed_record(0, [ONE_PITCH, CHORD_LOOP, SILENT]), _seed_record(1, [ONE_PITCH, DYAD, VARIED])]
    markdown = report.markdown_table(_table_result({"LSTM_enc2": seeds}))
    lines = markdown.splitlines()
    mean_row = next(i for i, line in enumerate(lines)
                    if line.startswith("| LSTM_enc2 | ours, tiny, 2 seeds (mean ± sd) | 3 (all; 2/3 with notes) | "))
    for offset, (seed, texts) in enumerate([(0, [ONE_PITCH, CHORD_LOOP]), (1, [ONE_PITCH, DYAD, VARIED])], 1):
        table = np.array([[metrics.token_metrics(["<start>", *t.split()])[n] for n in METRIC_NAMES] for t in texts])
        means = table.mean(axis=0)
        loss = music_quality_loss(means)
        expected = (f"| LSTM_enc2 | ours, tiny, seed {seed} | 3 (all; {len(texts)} with notes) | {loss:.4f} | "
                    + " | ".join(f"{v:.4f}" for v in means) + f" | {loss:.4f} |")
        assert lines[mean_row + offset] == expected
    losses = [music_quality_loss(np.array([[metrics.token_metrics(t.split())[n] for n in METRIC_NAMES]
                                           for t in texts]).mean(axis=0))
              for texts in ([ONE_PITCH, CHORD_LOOP], [ONE_PITCH, DYAD, VARIED])]
    assert lines[mean_row].split(" | ")[3] == f"{np.mean(losses):.4f} ± {np.std(losses, ddof=1):.4f}"
    assert "| LSTM_enc2 | ours, tiny, 2 seeds (mean ± sd) | 3 (first 4; 2/3 with notes) |" in lines[mean_row + 3]


def test_one_seed_renders_as_before_without_per_seed_rows():
    markdown = report.markdown_table(_table_result({"LSTM_enc2": [_seed_record(0, [ONE_PITCH, CHORD_LOOP, SILENT])]}))
    assert "| LSTM_enc2 | ours, tiny | 3 (all; 2 with notes) | " in markdown
    assert "seed 0 |" not in markdown and "mean ± sd" not in markdown


def test_tables_count_each_runs_pieces_by_loop_type_in_the_papers_order():
    rows = {"Trans_enc2_dec2": [_seed_record(0, [SILENT, SILENT, SILENT])],  # not the paper's order: sorted JSON
            "LSTM_enc2": [_seed_record(0, [ONE_PITCH, CHORD_LOOP, SILENT]), _seed_record(1, [ONE_PITCH, DYAD, VARIED])]}
    lines = report.markdown_table(_table_result(rows)).splitlines()
    head = lines.index("| Model | Seed | Pieces | No notes | One pitch | Dyad | Chord loop | Varied | Most frequent token |")
    assert lines[head + 2:head + 5] == [
        "| LSTM_enc2 | 0 | 3 | 1 | 1 | 0 | 1 | 0 | `C4@1.0` (1, 67%) |",  # a tie: the first piece's token
        "| LSTM_enc2 | 1 | 3 | 0 | 1 | 1 | 0 | 1 | `C4@1.0` (2, 50%) |",  # 2 of 3 tokens, 1 of 3 (<end> counts)
        "| Trans_enc2_dec2 | 0 | 3 | 3 | 0 | 0 | 0 | 0 | `r@0.25` (3, 67%) |",
    ]
    assert [line.split(" | ")[0] for line in lines if " | ours, tiny" in line] == ["| LSTM_enc2"] * 4 + ["| Trans_enc2_dec2"] * 2


def test_loop_counts_need_every_pieces_tokens():
    pieces = [_piece(ONE_PITCH), _piece(CHORD_LOOP)]
    assert report.loop_counts(pieces) == {"no notes": 0, "one pitch": 1, "dyad": 0, "chord loop": 1, "varied": 0}
    assert report.loop_counts([*pieces, {"metrics": {}}]) is None


def test_regimes_table_names_the_loop_types():
    tables = {"authors": {"table1": _table_result({"LSTM_enc2": [_seed_record(0, [SILENT, ONE_PITCH, SILENT])]})},
              "eimg": {}}
    line = next(line for line in report.markdown_regimes(tables).splitlines()
                if line.startswith("| LSTM_enc2 | ours, authors | tiny | 3 |"))
    assert line.endswith(" | no notes 2, one pitch 1 |")
