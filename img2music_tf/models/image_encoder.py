"""Frozen ImageNet CNNs that turn a picture into one feature vector, cached on disk (Section 3.3.1).

- VGG16, `fidelity="paper"`: the convolutional base; its last 7x7x512 map is pooled to 512 values. The paper
  says "a pooling layer with a kernel size of 3 ... producing a 1x1x512 image feature vector", but a 3x3 window
  on a 7x7 map gives 2x2 (stride 3) or 5x5 (stride 1), never 1x1. We read it as global pooling over the map and
  use global average pooling (Keras' `pooling="avg"`), the usual VGG image descriptor; it also accepts smaller
  images (any side >= 32), which keeps tests fast.
- VGG16, `fidelity="code"`: the 4096-d output of `fc2`, as the authors' scripts (full VGG16, 224x224 only).
- InceptionV3: the 2048-d global average pool before the classifier, in both fidelities (the same values as the
  layer the authors take as `layers[-2]`).
- Pixels: `fidelity="paper"` resizes bilinearly and uses each network's own `preprocess_input`;
  `fidelity="code"` does what the authors' scripts do: Keras `load_img` resizing (nearest neighbour) and
  VGG16's `preprocess_input` for both networks (their scripts import only that one).

Weights: "imagenet" (downloaded once and cached by Keras), "none" (random init drawn from a NumPy generator
seeded by `seed`, so features are reproducible on every backend), or a local `.h5` / `.weights.h5` file.
The CNN is frozen, so each image's feature is computed once and stored under
`cache_dir()/features/<encoder>-<fidelity>-<size>px-<weights>/<sha256 of the image file>.npy`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from img2music_tf import files
from img2music_tf.errors import UserError

ENCODERS = ("vgg16", "inception_v3")
FIDELITIES = ("paper", "code")
DEFAULT_IMAGE_SIZE = {"vgg16": 224, "inception_v3": 299}
_MIN_IMAGE_SIZE = {"vgg16": 32, "inception_v3": 75}
_FEATURE_DIMS = {
    ("vgg16", "paper"): 512,
    ("vgg16", "code"): 4096,
    ("inception_v3", "paper"): 2048,
    ("inception_v3", "code"): 2048,
}
OFFLINE_HINT = "use --image-weights none (random, seeded) or --image-weights PATH to a local .h5 weights file"


def feature_dim(encoder: str, fidelity: str = "paper") -> int:
    """Length of the feature vector that `extract_features` returns for this encoder and fidelity."""
    check_choice("image encoder", encoder, ENCODERS)
    check_choice("fidelity", fidelity, FIDELITIES)
    return _FEATURE_DIMS[(encoder, fidelity)]


def min_image_size(encoder: str, fidelity: str = "paper") -> int:
    """The smallest input side the encoder accepts (224 for VGG16 "code", whose fc layers fix the size)."""
    feature_dim(encoder, fidelity)
    return 224 if (encoder, fidelity) == ("vgg16", "code") else _MIN_IMAGE_SIZE[encoder]


def image_size_for(encoder: str, fidelity: str = "paper", image_size: int | None = None) -> int:
    """The input side length to use: the network's native size unless a valid smaller/larger one is asked."""
    feature_dim(encoder, fidelity)
    if image_size is None:
        return DEFAULT_IMAGE_SIZE[encoder]
    if encoder == "vgg16" and fidelity == "code" and image_size != 224:
        raise UserError(f"VGG16 with fidelity 'code' keeps its dense layers: images must be 224 px, got {image_size}")
    if image_size < min_image_size(encoder, fidelity):
        raise UserError(f"{encoder} needs images of at least {min_image_size(encoder, fidelity)} px, got {image_size}")
    return int(image_size)


def weights_tag(weights: str | os.PathLike | None, seed: int = 0) -> str:
    """A short name for the weights, part of the cache key: imagenet, none-seed<N>, or file-<sha256 prefix>."""
    weights = _normalise_weights(weights)
    if weights == "imagenet":
        return "imagenet"
    if weights is None:
        return f"none-seed{seed}"
    return f"file-{files.sha256(weights)[:16]}"


def build_cnn(
    encoder: str = "vgg16",
    fidelity: str = "paper",
    weights: str | os.PathLike | None = "imagenet",
    image_size: int | None = None,
    seed: int = 0,
):
    """The frozen feature extractor: a keras.Model from (B, S, S, 3) preprocessed images to (B, F) features."""
    import keras

    size = image_size_for(encoder, fidelity, image_size)
    weights = _normalise_weights(weights)
    keras_weights = "imagenet" if weights == "imagenet" else None
    include_top = encoder == "vgg16" and fidelity == "code"
    application = {"vgg16": keras.applications.VGG16, "inception_v3": keras.applications.InceptionV3}[encoder]
    kwargs = {} if include_top else {"input_shape": (size, size, 3), "pooling": "avg"}
    try:
        cnn = application(include_top=include_top, weights=keras_weights, **kwargs)
    except Exception as error:  # Keras wraps every download failure in a bare Exception
        if keras_weights != "imagenet":
            raise
        raise UserError(f"cannot get the ImageNet weights of {encoder} ({error}); {OFFLINE_HINT}") from None
    if weights is None:
        _seeded_init(cnn, seed)
    elif weights != "imagenet":
        try:
            cnn.load_weights(weights)
        except Exception as error:  # h5py and Keras raise many types for a file that does not fit
            raise UserError(f"cannot load {encoder} weights from {weights}: {error}") from None
    if include_top:
        cnn = keras.Model(cnn.inputs, cnn.get_layer("fc2").output, name="vgg16_fc2")
    cnn.trainable = False
    return cnn


def load_image(path: str | os.PathLike, image_size: int, fidelity: str = "paper") -> np.ndarray:
    """Read an image with Pillow as RGB (grayscale, CMYK, palette and alpha converted) at (S, S, 3) float32."""
    from PIL import Image

    resample = Image.Resampling.NEAREST if fidelity == "code" else Image.Resampling.BILINEAR
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((image_size, image_size), resample)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"cannot read image {path}: {error}") from None
    return np.asarray(rgb, dtype=np.float32)  # (S, S, 3)


def preprocess(images: np.ndarray, encoder: str, fidelity: str = "paper") -> np.ndarray:
    """The network's input scaling: VGG16 mean-subtracted BGR, InceptionV3 [-1, 1] (VGG16's in "code")."""
    import keras

    vgg_style = encoder == "vgg16" or fidelity == "code"
    module = keras.applications.vgg16 if vgg_style else keras.applications.inception_v3
    return module.preprocess_input(np.array(images, dtype=np.float32))  # (B, S, S, 3)


def extract_features(
    paths: Iterable[str | os.PathLike],
    encoder: str = "vgg16",
    fidelity: str = "paper",
    weights: str | os.PathLike | None = "imagenet",
    image_size: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = True,
) -> np.ndarray:
    """Features (N, F) float32 of the images at `paths`, computed once per image content and cached on disk."""
    from tqdm import tqdm

    paths = [Path(p) for p in paths]
    size = image_size_for(encoder, fidelity, image_size)
    folder = files.cache_dir() / "features" / f"{encoder}-{fidelity}-{size}px-{weights_tag(weights, seed)}"
    targets = [folder / f"{_content_hash(path)}.npy" for path in paths]
    missing = sorted({target: path for target, path in zip(targets, paths) if not target.exists()}.items())
    if missing:
        cnn = build_cnn(encoder, fidelity, weights, size, seed)
        with tqdm(total=len(missing), desc=f"{encoder} features", unit="image", disable=not progress) as bar:
            for start in range(0, len(missing), batch_size):
                batch = missing[start : start + batch_size]
                images = np.stack([load_image(path, size, fidelity) for _, path in batch])  # (B, S, S, 3)
                features = np.asarray(cnn.predict_on_batch(preprocess(images, encoder, fidelity)))  # (B, F)
                for (target, _), feature in zip(batch, features):
                    _save_npy(target, feature.astype(np.float32))
                bar.update(len(batch))
    dim = feature_dim(encoder, fidelity)
    return np.stack([np.load(target) for target in targets]) if targets else np.zeros((0, dim), np.float32)


def _seeded_init(model, seed: int) -> None:
    """Glorot-uniform kernels from a seeded NumPy generator; biases and BatchNorm statistics keep their constants."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if len(shape) < 2:
            continue
        receptive = math.prod(shape[:-2])
        limit = math.sqrt(6.0 / ((shape[-2] + shape[-1]) * receptive))
        values = rng.random(shape, dtype=np.float32)
        values *= 2 * limit
        values -= limit
        variable.assign(values)


def _content_hash(path: Path) -> str:
    try:
        return files.sha256(path)
    except OSError as error:
        raise UserError(f"cannot read image {path}: {error.strerror or error}") from None


def _save_npy(target: Path, array: np.ndarray) -> None:
    with files.atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def _normalise_weights(weights: str | os.PathLike | None) -> str | Path | None:
    """"imagenet", None (for None or "none"), or the Path of an existing .h5 file."""
    if weights is None or str(weights).lower() == "none":
        return None
    if str(weights) == "imagenet":
        return "imagenet"
    path = Path(weights)
    if path.suffix != ".h5":
        raise UserError(f"image weights must be 'imagenet', 'none' or a .h5/.weights.h5 file, got {weights}")
    if not path.is_file():
        raise UserError(f"image weights file not found: {path}")
    return path


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    """UserError naming the valid choices when `value` is not one of them."""
    if value not in choices:
        raise UserError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
