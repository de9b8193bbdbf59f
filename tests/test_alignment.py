"""The emotion-alignment measurement (img2music_tf/study/alignment.py, reproduce/va_alignment.py): its statistics on
known numbers, and the whole measurement on the built-in data at demo-tiny size."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from conftest import REPO

from img2music_tf.study import alignment


def test_distance_is_the_mean_absolute_va_difference_and_nan_without_music_va():
    image = np.array([[5.0, 5.0], [2.0, 8.0]])  # (I, 2)
    music = np.array([[6.0, 3.0], [np.nan, np.nan]])  # (I, 2)
    assert alignment.distances(image, music)[0] == pytest.approx(1.5)
    assert math.isnan(alignment.distances(image, music)[1])


def test_bootstrap_interval_holds_the_mean_skips_nan_and_narrows_with_more_images():
    rng = np.random.default_rng(0)
    few = rng.normal(2.0, 1.0, size=(3, 20))  # (S, I)
    many = rng.normal(2.0, 1.0, size=(3, 400))
    few_with_gap = few.copy()
    few_with_gap[0, 0] = np.nan
    for values in (few, many, few_with_gap):
        low, high = alignment.bootstrap_ci(values, 0.95, 500)
        assert low < np.nanmean(values) < high
    assert np.diff(alignment.bootstrap_ci(many, 0.95, 500)) < np.diff(alignment.bootstrap_ci(few, 0.95, 500))


def test_correlation_is_pearson_pooled_over_seeds_with_an_interval_around_it():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 50))  # (S, I)
    y = x + rng.normal(scale=0.5, size=(2, 50))
    r, low, high = alignment.correlation_ci(x, y, 0.95, 300)
    assert r == pytest.approx(np.corrcoef(x.ravel(), y.ravel())[0, 1])
    assert low < r < high and r > 0.7
    assert math.isnan(alignment.correlation_ci(x, np.ones_like(x), 0.95, 50)[0])  # constant music VA: undefined


def test_summary_of_a_model_against_itself_has_zero_difference_and_counts_rated_pieces():
    measurement = alignment.Measurement(n_boot=200)
    rng = np.random.default_rng(2)
    image = rng.uniform(1, 9, size=(30, 2))  # (I, 2)
    music = rng.uniform(1, 9, size=(3, 30, 2))  # (S, I, 2)
    music[1, 4] = np.nan  # a piece without notes
    summary = alignment.alignment_summary(image, music, measurement, alignment.distances(image, music))
    assert summary["rated"] == 3 * 30 - 1
    assert summary["difference_to_baseline"] == 0.0 and summary["difference_to_baseline_ci"] == [0.0, 0.0]
    low, high = summary["distance_ci"]
    assert low < summary["distance"] < high
    assert summary["distance_across_seeds"][1] < summary["distance"] < summary["distance_across_seeds"][2]
    assert summary["distance"] == pytest.approx((summary["valence_distance"] + summary["arousal_distance"]) / 2,
                                                abs=0.05)


def test_distance_to_other_pictures_music_leaves_out_the_pictures_own():
    image = np.array([[2.0, 2.0], [8.0, 8.0], [5.0, 5.0]])  # (I, 2)
    following = image[None].copy()  # (1, I, 2): each piece has its own picture's VA
    others = alignment.distances_to_others(image, following)  # (1, I)
    np.testing.assert_allclose(others, [[(6 + 3) / 2, (6 + 3) / 2, (3 + 3) / 2]])
    summary = alignment.alignment_summary(image, following, alignment.Measurement(n_boot=100))
    assert summary["distance"] == 0 and summary["own_minus_others"] == pytest.approx(-4)
    constant = np.full((1, 3, 2), 5.0)  # the same music for every picture: no picture is favoured
    assert alignment.alignment_summary(image, constant, alignment.Measurement(n_boot=100))["own_minus_others"] == \
        pytest.approx(0)


def test_models_are_one_preset_with_a_lambda_not_copies():
    from img2music_tf.experiments import SCALES

    models = alignment.Measurement().models
    assert models[0].preset == alignment.BASELINE and models[0].config(SCALES["align"]).va_loss is False
    soft = [model.config(SCALES["align"]) for model in models if model.lambda_va is not None]
    assert {config.name for config in soft} == {alignment.SOFT}
    assert [config.lambda_va for config in soft] == [0.1, 1.0, 10.0]
    assert all(config.va_term == "soft" and config.epochs == 10 for config in soft)
    conditioned = [model.config(SCALES["align"]) for model in models if model.preset in alignment.CONDITIONED]
    assert [config.va_condition for config in conditioned] == ["with_image", "without_image"]
    assert all(not config.va_loss and config.epochs == 10 for config in conditioned)
    assert len({model.key for model in models}) == len(models)
    with pytest.raises(ValueError):
        alignment.Measurement(models=models[1:])


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """reproduce/va_alignment.py on the built-in data at demo-tiny size: 1 seed, no term, one lambda and the
    VA-conditioned preset without the image."""
    sys.path.insert(0, str(REPO / "reproduce"))
    import va_alignment

    out = tmp_path_factory.mktemp("results")
    work = tmp_path_factory.mktemp("work")
    code = va_alignment.main(["--scale", "demo-tiny", "--data", "builtin", "--seeds", "0", "--lambdas", "1",
                              "--conditioned", "Trans_enc3_dec3_VA_Cond_NoImage", "--work", str(work), "--out", str(out)])
    assert code == 0
    return json.loads((out / "va_alignment.json").read_text()), out, work


def test_the_judge_is_another_predictor_than_the_one_inside_the_loss(measured):
    result, _, work = measured
    regime = result["regimes"]["builtin"]
    assert regime["judge"] != regime["loss_va_predictor"]
    judge_split = json.loads((work / regime["judge"] / "metrics.json").read_text())["training"]
    assert judge_split["settings"]["seed"] == 1
    from img2music_tf.data.prepare import load_prepared
    from img2music_tf.data.pairing import split_ids

    prepared = load_prepared(work / regime["data"]["prepared"])
    judge_ids = split_ids([item.id for item in prepared.music], 1, 2, 2)
    assert judge_ids["train"] != prepared.split["train"]
    assert regime["floor"]["judge_vs_loss_predictor"] > 0  # they rate the same music differently


def test_every_model_and_decoding_is_rated_and_written(measured):
    result, out, _ = measured
    regime = result["regimes"]["builtin"]
    assert sorted(regime["models"]) == ["Trans_enc3_dec3", "Trans_enc3_dec3_VA_Cond_NoImage",
                                        "Trans_enc3_dec3_VA_Soft-lambda1"]  # the JSON's keys are sorted
    images = len(regime["image_ids"])
    for model in regime["models"].values():
        for name in alignment.DECODINGS:
            pieces = model["runs"][0]["pieces"][name]
            assert len(pieces) == images
            quality = model["decodings"][name]["quality"]
            assert quality["with_notes"] == np.mean([piece["notes"] > 0 for piece in pieces])
            assert quality["distinct_pieces"] == [len({piece["tokens_sha"] for piece in pieces})]
            assert (quality["copies"], quality["pieces"]) == (
                sum(piece["memorisation"]["copied"] for piece in pieces), images)
    soft = regime["models"]["Trans_enc3_dec3_VA_Soft-lambda1"]["decodings"]["top-10 sampling"]["alignment"]
    assert "difference_to_baseline_ci" in soft
    conditioned = regime["models"]["Trans_enc3_dec3_VA_Cond_NoImage"]
    assert conditioned["config"]["va_condition"] == "without_image"
    own = conditioned["decodings"]["greedy"]["alignment"]
    assert own["own_minus_others"] == pytest.approx(own["distance"] - own["distance_to_others"], abs=1e-9) or \
        own["rated"] < images  # with unrated pieces the paired mean drops them
    assert regime["cost"]["Trans_enc3_dec3"]["ratio_median"] == 1.0
    assert regime["cost"]["Trans_enc3_dec3_VA_Soft-lambda1"]["ratio_median"] > 0
    markdown = (out / "va_alignment.md").read_text()
    assert "none = paper's term" in markdown and "soft, lambda 1" in markdown and "VA-conditioned, no image" in markdown and "Image weights: `none`" in markdown
    assert "--data builtin --seeds 0 --lambdas 1 --conditioned Trans_enc3_dec3_VA_Cond_NoImage" in markdown
    assert "own - others" in markdown
    assert "| copies of a training song |" in markdown
    assert (out / "va_alignment.png").read_bytes()[:4] == b"\x89PNG"


def test_verdicts_name_the_direction_only_beyond_the_interval_and_say_when_nothing_compares():
    def result_with(low: float, high: float) -> dict:
        row = {"alignment": {"difference_to_baseline": (low + high) / 2, "difference_to_baseline_ci": [low, high],
                             "own_minus_others": (low + high) / 2, "own_minus_others_ci": [low, high],
                             "valence_r": 0.4, "arousal_r": 0.2},
               "quality": {"music_quality_loss": 1.0, "with_notes": 1.0}}
        models = {"none": {"label": "none", "decodings": {name: row for name in alignment.DECODINGS}},
                  "soft": {"label": "soft, lambda 1", "decodings": {name: row for name in alignment.DECODINGS}}}
        return {"regimes": {"eimg": {"models": models}}}

    assert "closer than without the term" in alignment.verdicts(result_with(-0.5, -0.1))[0]
    assert "follows its own picture's VA more than other pictures'" in alignment.verdicts(result_with(-0.5, -0.1))[0]
    assert "goal r >= 0.3 on both: not met" in alignment.verdicts(result_with(-0.5, -0.1))[0]
    assert "farther than without the term" in alignment.verdicts(result_with(0.1, 0.5))[0]
    assert "no difference beyond the interval" in alignment.verdicts(result_with(-0.1, 0.5))[0]
    assert "not comparable" in alignment.verdicts(result_with(math.nan, math.nan))[0]


def test_bad_inputs_end_with_one_line_and_write_nothing(tmp_path, capsys, monkeypatch):
    sys.path.insert(0, str(REPO / "reproduce"))
    import va_alignment

    from img2music_tf.errors import UserError

    args = ["--scale", "demo-tiny", "--seeds", "0", "--lambdas", "1", "--work", str(tmp_path / "work"),
            "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as stopped:
        va_alignment.main(["--data", "nope", *args])
    assert stopped.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err

    def refused(*_):
        raise UserError("runs/x/prepared was prepared from other inputs")

    monkeypatch.setattr(alignment, "measure", refused)
    assert va_alignment.main(["--data", "builtin", *args]) == 2
    assert capsys.readouterr().err == "error: runs/x/prepared was prepared from other inputs\n"
    assert not (tmp_path / "out").exists()


def test_steering_asks_each_quadrant_of_the_same_pictures_and_writes_its_report(measured, tmp_path):
    """reproduce/va_steering.py on the measurement's VA-conditioned run: every picture once per quadrant and
    once with its own VA; features per piece; a table and a piano-roll figure."""
    import va_steering

    from img2music_tf.study.steering import FEATURES, QUADRANTS

    _, _, work = measured
    out = tmp_path / "results"
    assert va_steering.main(["--scale", "demo-tiny", "--data", "builtin", "--presets",
                             "Trans_enc3_dec3_VA_Cond_NoImage", "--pictures", "2", "--work", str(work),
                             "--out", str(out)]) == 0
    result = json.loads((out / "va_steering.json").read_text())["builtin/Trans_enc3_dec3_VA_Cond_NoImage"]
    assert sorted(result["quadrants"]) == sorted(QUADRANTS) and len(result["own"]) == 2
    for row in result["quadrants"].values():
        assert len(row["pieces"]) == 2 and set(FEATURES) <= set(row["pieces"][0])
        assert all(piece["minor_key"] in (0.0, 1.0) or math.isnan(piece["minor_key"]) for piece in row["pieces"])
    markdown = (out / "va_steering.md").read_text()
    assert "| high V, high A (7, 7) |" in markdown and "r(asked, judged)" in markdown
    assert (out / "va_steering-builtin-Trans_enc3_dec3_VA_Cond_NoImage.png").read_bytes()[:4] == b"\x89PNG"


def test_steering_without_the_alignments_runs_says_what_to_run(tmp_path, capsys):
    import va_steering

    from img2music_tf.cli import run_reporting

    status = run_reporting(lambda: va_steering.main(["--scale", "demo-tiny", "--data", "builtin", "--work",
                                                     str(tmp_path / "work"), "--out", str(tmp_path / "out")]))
    assert status == 2 and "make va-alignment" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
