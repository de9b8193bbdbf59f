"""The music valence-arousal predictor of Wang et al. (EIMG `Metrics/emotionmatch`), paper Section 3.3.4.

A MIDI file becomes muspy's note representation, rows (onset tick, pitch,
duration tick, velocity), read at ONE fixed resolution (480 ticks per beat)
whatever the file's own (EIMG files are 480 or 1024, music21 writes 10080; the
authors fed both scales to one predictor, we do not). The rows are truncated to
500 notes, padded with the constant 1 and flattened to 2000 numbers; an MLP
(1024, 512 hidden units) maps them to (valence, arousal) on the 1-9 scale.

`batchnorm=True` (fidelity "paper"): each hidden Dense is followed by BatchNorm
and ReLU (the paper's words). `batchnorm=False` (fidelity "code"): plain ReLU
layers without BatchNorm and without biases (the EIMG code).

Our addition (`standardize=True`): a fixed per-column standardisation of the
(500, 4) note matrix, with the mean and variance of the training inputs stored
inside the saved model, so raw note rows go in everywhere (training, the VA
loss, `img2music va predict`) and nobody has to remember the statistics.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import keras
import numpy as np

from img2music_tf.data.items import VA_MAX, VA_MIN
from img2music_tf.errors import UserError
from img2music_tf.files import ensure_writable_dir, load_keras_model, staged_files, write_json

NOTE_FIELDS = ("onset", "pitch", "duration", "velocity")
MODEL_FILE = "va_predictor.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
EXTRAPOLATED = f"* outside {VA_MIN:g}-{VA_MAX:g}: the predictor extrapolates"  # the footnote of `marked`


def extrapolated(value: float) -> bool:
    """Whether a predicted valence or arousal lies outside the 1-9 scale of the ratings it learnt from."""
    return not VA_MIN <= value <= VA_MAX


def marked(value: float, decimals: int = 2) -> str:
    """A predicted valence or arousal, not clipped, with '*' when `extrapolated` (footnote `EXTRAPOLATED`)."""
    return f"{value:.{decimals}f}" + ("*" if extrapolated(value) else "")


@dataclass(frozen=True)
class VAPredictorConfig:
    """Input format and architecture of the predictor (defaults = Wang et al. with the paper's BatchNorm)."""

    batchnorm: bool = True  # True: Dense -> BatchNorm -> ReLU (paper); False: Dense (no bias) -> ReLU (EIMG code)
    max_notes: int = 500  # notes kept; shorter pieces are padded with `pad_value`
    resolution: int = 480  # ticks per beat every file is converted to
    pad_value: float = 1.0
    hidden_units: tuple[int, ...] = (1024, 512)
    standardize: bool = True  # our addition: per-column standardisation stored in the model

    @property
    def input_dim(self) -> int:
        return self.max_notes * len(NOTE_FIELDS)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "VAPredictorConfig":
        """Inverse of `to_dict`; a UserError for keys of another version."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"unknown VA predictor config keys: {', '.join(unknown)} (retrain it with this version)")
        return cls(**{**values, "hidden_units": tuple(values.get("hidden_units", cls.hidden_units))})


def _read_music(path: str | Path):
    """The muspy Music of a MIDI file, or a UserError saying why it cannot be read."""
    import muspy

    try:
        return muspy.read_midi(path)
    except Exception as error:  # muspy/mido raise many types for unreadable files
        raise UserError(f"cannot read MIDI file {path}: {error}") from None


def check_rateable(path: str | Path) -> None:
    """UserError unless the MIDI file holds pitched notes: without notes, or with drums only, it has no VA to
    predict (the predictor learnt from piano music; a prediction would be the padding's)."""
    tracks = [track for track in _read_music(path).tracks if track.notes]
    if not tracks:
        raise UserError(f"{path} holds no notes: there is no valence/arousal to predict")
    if all(track.is_drum for track in tracks):
        raise UserError(f"{path} holds drums only: the VA predictor rates pitched notes (it learnt from piano music)")


def read_notes(path: str | Path, resolution: int = 480) -> np.ndarray:
    """muspy note rows (N, 4) int64 of a MIDI file at `resolution` ticks per beat; (0, 4) if it has no notes."""
    import muspy

    music = _read_music(path)
    music.adjust_resolution(resolution)
    if not any(track.notes for track in music.tracks):
        return np.zeros((0, len(NOTE_FIELDS)), np.int64)
    return muspy.to_note_representation(music).astype(np.int64)  # (N, 4)


def predictor_input(notes: np.ndarray, config: VAPredictorConfig) -> np.ndarray:
    """Note rows (N, 4) -> the flat (max_notes * 4,) float32 input: truncated, padded with `pad_value`."""
    notes = np.asarray(notes, np.float32).reshape(-1, len(NOTE_FIELDS))[: config.max_notes]
    matrix = np.full((config.max_notes, len(NOTE_FIELDS)), config.pad_value, np.float32)  # (M, 4)
    matrix[: len(notes)] = notes
    return matrix.reshape(-1)  # (M * 4,)


def input_statistics(inputs: np.ndarray, config: VAPredictorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and variance (4,) of flat inputs (N, M * 4), for `build_va_predictor`."""
    columns = np.asarray(inputs, np.float64).reshape(-1, len(NOTE_FIELDS))  # (N * M, 4)
    return columns.mean(axis=0), np.maximum(columns.var(axis=0), 1e-6)


def build_va_predictor(
    config: VAPredictorConfig,
    mean: Sequence[float] | None = None,
    variance: Sequence[float] | None = None,
) -> keras.Model:
    """Flat note input (B, M * 4) -> (B, 2) linear (valence, arousal).

    `mean`/`variance` (4 values each) are the standardisation statistics; with
    `config.standardize` and none given, the standardisation is the identity.
    """
    width = len(NOTE_FIELDS)
    use_bias = config.batchnorm
    inputs = keras.Input((config.input_dim,), name="notes")  # (B, M * 4)
    x = inputs
    if config.standardize:
        mean = [0.0] * width if mean is None else [float(v) for v in mean]
        variance = [1.0] * width if variance is None else [float(v) for v in variance]
        x = keras.layers.Reshape((config.max_notes, width), name="note_rows")(x)  # (B, M, 4)
        x = keras.layers.Normalization(axis=-1, mean=mean, variance=variance, name="standardize")(x)
        x = keras.layers.Flatten(name="flat")(x)  # (B, M * 4)
    for index, units in enumerate(config.hidden_units):
        x = keras.layers.Dense(units, use_bias=use_bias, name=f"dense_{index}")(x)  # (B, units)
        if config.batchnorm:
            x = keras.layers.BatchNormalization(name=f"batchnorm_{index}")(x)
        x = keras.layers.ReLU(name=f"relu_{index}")(x)
    outputs = keras.layers.Dense(2, use_bias=use_bias, name="va")(x)  # (B, 2)
    return keras.Model(inputs, outputs, name="va_predictor_batchnorm" if config.batchnorm else "va_predictor_plain")


@dataclass(frozen=True)
class VAPredictor:
    """A predictor model with the config that says how to feed it; saved as `.keras` + JSON in one folder."""

    model: keras.Model
    config: VAPredictorConfig

    def predict_notes(self, notes: Iterable[np.ndarray]) -> np.ndarray:
        """(valence, arousal) (N, 2) of N note arrays (each (n_i, 4) at `config.resolution`)."""
        inputs = np.stack([predictor_input(n, self.config) for n in notes])  # (N, M * 4)
        return keras.ops.convert_to_numpy(self.model(inputs, training=False)).astype(np.float64)

    def predict_midi(self, paths: Iterable[str | Path]) -> np.ndarray:
        """(valence, arousal) (N, 2) of MIDI files."""
        return self.predict_notes(read_notes(path, self.config.resolution) for path in paths)

    def save(self, directory: str | Path, metrics: dict | None = None) -> Path:
        """Write the model, its config and (optionally) its evaluation figures into `directory` as one set
        (`files.staged_files`, config.json last): a failed save leaves the old predictor whole, and no model is
        ever found beside another model's config."""
        directory = ensure_writable_dir(directory)
        with staged_files(directory, last=CONFIG_FILE) as staging:
            keras.saving.save_model(self.model, staging / MODEL_FILE)
            if metrics is not None:
                write_json(staging / METRICS_FILE, metrics)
            write_json(staging / CONFIG_FILE, self.config.to_dict())
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "VAPredictor":
        directory = Path(directory)
        if directory.is_file():  # e.g. the .keras file itself
            raise UserError(f"{directory} is a file: give the VA predictor's folder (the one holding {MODEL_FILE})")
        if not (directory / MODEL_FILE).is_file() or not (directory / CONFIG_FILE).is_file():
            raise UserError(
                f"no trained VA predictor in {directory}: run `img2music va train --out {directory}` first"
            )
        try:
            config = VAPredictorConfig.from_dict(json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:  # unreadable, not JSON, not an object
            raise UserError(f"cannot read the VA predictor's {directory / CONFIG_FILE} ({error})") from None
        model = load_keras_model(directory / MODEL_FILE)
        return cls(model, config)
