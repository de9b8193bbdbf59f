"""The metric anatomy and the authors' log scripts (reproduce/metric_anatomy.py, reproduce/authors_log.py) on a
hand-made results folder: pieces grouped by loop type, our curves beside the authors' runs of the same model."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import pytest

from conftest import REPO
from img2music_tf.metrics import METRIC_NAMES, music_quality_loss, token_metrics
from img2music_tf.paper_numbers import AUTHORS_LOG


def _script(name):
    spec = importlib.util.spec_from_file_location(f"reproduce_{name}", REPO / "reproduce" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PIECES = {"one": "<start> C4@1.0 C4@1.0 C4@1.0 <end>", "chord": "<start> 0.3.6.9@1.75 r@0.75 0.3.6.9@1.75 <end>",
          "rests": "<start> r@1.0 r@1.0 <end>"}


@pytest.fixture
def results(tmp_path):
    pieces = []
    for tokens in (PIECES["one"], PIECES["one"], PIECES["chord"], PIECES["rests"]):
        values = token_metrics(tokens.split())
        pieces.append({"tokens": tokens, "metrics": {n: values[n] for n in METRIC_NAMES}})
    seed = {"seed": 0, "epoch": 2, "run": "runs/x", "pieces": pieces, "aggregate": {"all": {"music_quality_loss": 1.5}},
            "history": [{"epoch": 1, "loss": 6.1}, {"epoch": 2, "loss": 5.2}],
            "run_config": {"model": {"name": "Trans_enc4", "fidelity": "code", "learning_rate": 1e-4}}}
    table = {"settings": {"data": "authors", "scale": "paper", "fidelity": "code", "image_weights": "none"},
             "rows": {"Trans_enc4": {"seeds": [seed]}}}
    (tmp_path / "authors").mkdir()
    (tmp_path / "authors" / "table1.json").write_text(json.dumps(table), encoding="utf-8")
    return tmp_path


def test_anatomy_groups_each_rows_pieces_by_loop_type(results):
    anatomy = _script("metric_anatomy")
    (row,) = anatomy.tables(results)["authors/table1.json"]["rows"].values()
    groups = row["groups"]
    assert {kind: group["pieces"] for kind, group in groups.items()} == {"no notes": 1, "one pitch": 2,
                                                                       "chord loop": 1}
    chord = token_metrics(PIECES["chord"].split())
    assert groups["chord loop"]["music_quality_loss"] == pytest.approx(music_quality_loss(chord))
    assert groups["one pitch"]["music_quality_loss"] > 2.0 > groups["chord loop"]["music_quality_loss"]


def test_anatomy_groups_the_shipped_models_pieces_by_loop_type(results):
    anatomy = _script("metric_anatomy")
    assert anatomy.shipped_model(results / "pretrained.json") is None  # before make pretrained-measure
    pieces = [{"image": str(i), "tokens": tokens,
               "metrics": {name: token_metrics(tokens.split())[name] for name in METRIC_NAMES}}
              for i, tokens in enumerate((PIECES["chord"], PIECES["one"], PIECES["chord"]))]
    decoding = {"default": {"metrics": {"music_quality_loss": 1.1}, "piece_tokens": pieces}}
    (results / "pretrained.json").write_text(json.dumps({"decoding": decoding}), encoding="utf-8")
    shipped = anatomy.shipped_model(results / "pretrained.json")
    assert {kind: group["pieces"] for kind, group in shipped["default"]["groups"].items()} == {"one pitch": 1,
                                                                                            "chord loop": 2}


def test_authors_log_sets_our_run_beside_the_authors_run_of_the_same_model(results):
    log = _script("authors_log")
    (ours,) = log.our_curves(results)
    assert (ours["model"], ours["losses"], ours["learning_rate"]) == ("Trans_enc4", [6.1, 5.2], 1e-4)
    text = log.markdown({"authors": [dataclasses.asdict(run) for run in AUTHORS_LOG], "ours": [ours]})
    assert "| authors | Trans_enc4 | paper | code | 0.0001 | 0 | 6.100, 5.200 | Trans_enc4, lr 0.0001: 5.016, 3.940 |" in text
