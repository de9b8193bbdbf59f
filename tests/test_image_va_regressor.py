"""The image VA regressor: it learns VA that the features hold, not noise; it round-trips as JSON; the shipped one
estimates real pictures, marked as estimates."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SEED
from img2music_tf.errors import UserError
from img2music_tf.image_va import with_estimates
from img2music_tf.models import torchvision_vgg16
from img2music_tf.models.image_va_regressor import SHIPPED, ImageVARegressor, cross_validate


def _data(signal: bool, n: int = 300, dims: int = 24):
    rng = np.random.default_rng(SEED)
    features = rng.normal(size=(n, dims)) * rng.uniform(0.1, 10, size=dims)  # (N, F), dimensions of any scale
    va = 5 + (features / features.std(axis=0))[:, :2] * 1.2 if signal else 5 + rng.normal(size=(n, 2))  # (N, 2)
    return features, np.clip(va + 0.3 * rng.normal(size=va.shape), 1, 9)


def test_cross_validation_finds_the_va_the_features_hold_and_no_more():
    figures = cross_validate(*_data(signal=True), folds=5)
    for dimension in ("valence", "arousal"):
        assert figures[dimension]["r"] > 0.9
        assert figures[dimension]["mae"] < 0.5 * figures[dimension]["mae_mean_guess"]
    noise = cross_validate(*_data(signal=False), folds=5)
    for dimension in ("valence", "arousal"):
        assert abs(noise[dimension]["r"]) < 0.25
        assert noise[dimension]["mae"] > 0.95 * noise[dimension]["mae_mean_guess"]


def test_round_trip_and_clipping(tmp_path):
    features, va = _data(signal=True)
    regressor = ImageVARegressor.fit(features, va, {"encoder": "vgg16"}, "none")
    loaded = ImageVARegressor.load(regressor.save(tmp_path / "regressor.json"))
    np.testing.assert_allclose(loaded.predict(features), regressor.predict(features))
    assert loaded.spec == {"encoder": "vgg16"} and loaded.weights == "none"
    extreme = regressor.predict(features * 100)
    assert extreme.min() >= 1 and extreme.max() <= 9 and (extreme == 9).any()
    with pytest.raises(UserError, match="takes 24-d features"):
        regressor.predict(features[:, :5])
    (tmp_path / "bad.json").write_text('{"spec": {}')
    with pytest.raises(UserError, match="damaged image VA regressor"):
        ImageVARegressor.load(tmp_path / "bad.json")


def test_the_shipped_regressor_takes_torchvision_vgg16_features():
    regressor = ImageVARegressor.load(SHIPPED)
    assert regressor.weights == "torchvision" and regressor.spec["encoder"] == "vgg16" and len(regressor.mean) == 512
    assert regressor.metrics["valence"]["r"] > 0.3 and regressor.metrics["arousal"]["r"] > 0.3


@pytest.mark.skipif(not torchvision_vgg16.installed(), reason="torchvision VGG16 weights not installed")
def test_unknown_picture_va_is_estimated_and_marked(tmp_path):
    from PIL import Image

    pictures = []
    for i, colour in enumerate([(250, 200, 40), (20, 20, 60)]):
        pictures.append(tmp_path / f"{i}.png")
        Image.new("RGB", (64, 48), colour).save(pictures[-1])
    filled, estimated = with_estimates(pictures, [(7.0, 3.0), None])
    assert filled[0] == (7.0, 3.0) and estimated == [False, True]
    assert all(1 <= value <= 9 for value in filled[1])
    assert with_estimates(pictures, [(7.0, 3.0), (2.0, 2.0)]) == ([(7.0, 3.0), (2.0, 2.0)], [False, False])
