"""A picture's valence and arousal (1-9) estimated from its CNN feature: ridge regression on Emotion6's ratings.

Not in the paper (whose pictures come with ratings): `img2music generate` prints this estimate, marked as one,
for every picture whose VA the user does not give. Features are standardised per dimension, then one ridge
regression per output with its penalty chosen by cross-validation on the training rows (scikit-learn's
`RidgeCV`); predictions are clipped to the 1-9 scale. It holds ~2 K numbers, so it is stored as JSON
(`save`, `load`) beside the feature spec and weights it was fitted on, and only applied to those.
The shipped one (`SHIPPED`) is made by `reproduce/image_features.py`; its cross-validated figures are in
results/image_features.md.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from img2music_tf import files
from img2music_tf.errors import UserError
from img2music_tf.models.architecture import FeatureSpec
from img2music_tf.models.image_encoder import extract_features

SHIPPED = Path(__file__).resolve().parents[1] / "pretrained_image_va" / "regressor.json"
ALPHAS = tuple(float(a) for a in np.logspace(-1, 5, 13))  # ridge penalties tried by RidgeCV
VA_RANGE = (1.0, 9.0)


@dataclass(frozen=True)
class ImageVARegressor:
    """(N, F) features -> (N, 2) valence, arousal, of the features of CNN `spec` with `weights` (`features`)."""

    spec: dict  # the fields of image_encoder.FeatureSpec
    weights: str  # image_encoder.WEIGHTS
    mean: tuple[float, ...]  # (F,) feature standardisation
    std: tuple[float, ...]  # (F,)
    coef: tuple[tuple[float, ...], ...]  # (2, F) on standardised features
    intercept: tuple[float, float]
    alphas: tuple[float, float]  # the ridge penalty chosen for valence, arousal
    metrics: dict = dataclasses.field(default_factory=dict)  # cross-validated figures, for the record

    @classmethod
    def fit(cls, features: np.ndarray, va: np.ndarray, spec: dict, weights: str,
            metrics: dict | None = None) -> "ImageVARegressor":
        """Fit on (N, F) features and (N, 2) ratings."""
        from sklearn.linear_model import RidgeCV

        features = np.asarray(features, np.float64)  # (N, F)
        mean, std = features.mean(axis=0), np.maximum(features.std(axis=0), 1e-6)  # (F,), (F,)
        scaled = (features - mean) / std
        fits = [RidgeCV(alphas=ALPHAS).fit(scaled, np.asarray(va, np.float64)[:, d]) for d in range(2)]
        return cls(dict(spec), weights, tuple(mean.tolist()), tuple(std.tolist()),
                   tuple(tuple(fit.coef_.tolist()) for fit in fits), tuple(float(fit.intercept_) for fit in fits),
                   tuple(float(fit.alpha_) for fit in fits), metrics or {})

    def estimate(self, paths, progress: bool = False) -> np.ndarray:
        """(N, 2) valence, arousal of the pictures at `paths`, from their (cached) features."""
        return self.predict(extract_features(paths, FeatureSpec(**self.spec), self.weights, progress=progress))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, 2) valence, arousal clipped to 1-9."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or features.shape[1] != len(self.mean):
            raise UserError(f"the image VA regressor takes {len(self.mean)}-d features, got shape {features.shape}")
        scaled = (features - np.asarray(self.mean)) / np.asarray(self.std)  # (N, F)
        va = scaled @ np.asarray(self.coef).T + np.asarray(self.intercept)  # (N, 2)
        return np.clip(va, *VA_RANGE)

    def save(self, path: str | Path) -> Path:
        return files.write_json(path, dataclasses.asdict(self))

    @classmethod
    def load(cls, path: str | Path = SHIPPED) -> "ImageVARegressor":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
            regressor = cls(**{**values, "coef": tuple(map(tuple, values["coef"])),
                               **{key: tuple(values[key]) for key in ("mean", "std", "intercept", "alphas")}})
        except FileNotFoundError:
            raise UserError(f"no image VA regressor at {path}") from None
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise UserError(f"damaged image VA regressor {path}: {error}") from None
        if np.asarray(regressor.coef).shape != (2, len(regressor.mean)) or len(regressor.std) != len(regressor.mean):
            raise UserError(f"damaged image VA regressor {path}: its arrays disagree in size")
        return regressor


def cross_validate(features: np.ndarray, va: np.ndarray, folds: int = 10, seed: int = 0) -> dict:
    """Out-of-fold figures of `ImageVARegressor.fit` on (N, F) features and (N, 2) ratings: per dimension the
    Pearson r and mean absolute error, beside the error of always guessing the training folds' mean."""
    from sklearn.model_selection import KFold

    va = np.asarray(va, np.float64)  # (N, 2)
    predicted, guessed = np.zeros_like(va), np.zeros_like(va)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(features):
        predicted[test] = ImageVARegressor.fit(features[train], va[train], {}, "").predict(features[test])
        guessed[test] = va[train].mean(axis=0)
    return {
        name: {"r": float(np.corrcoef(predicted[:, d], va[:, d])[0, 1]),
               "mae": float(np.abs(predicted[:, d] - va[:, d]).mean()),
               "mae_mean_guess": float(np.abs(guessed[:, d] - va[:, d]).mean())}
        for d, name in enumerate(("valence", "arousal"))
    }
