"""Training and evaluating the music VA predictor on VA-labelled MIDI (EIMG), paper Section 3.3.4.

The EIMG code trains with MSE, Adam 1e-4, 300 epochs, batch 1 and no validation.
That takes hours on a 2-core CPU, so by default we train with batch 32 and stop
early on the validation split (keeping the best epoch's weights); the epochs,
batch size and patience are settings. The test figures (MAE and Pearson r per
dimension) are reported beside the trivial baseline that always predicts the
training mean, so a reader can see what the predictor adds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
from tqdm import tqdm

from img2music_tf.data.items import Item, Skipped
from img2music_tf.data.pairing import split_ids
from img2music_tf.errors import UserError
from img2music_tf.files import check_writable_dir, output_dir
from img2music_tf.models.va_predictor import (VAPredictor, VAPredictorConfig, build_va_predictor, input_statistics,
                                              predictor_input, read_notes)

DIMENSIONS = ("valence", "arousal")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class VATrainConfig:
    """Optimisation settings (the EIMG code: epochs=300, batch_size=1, patience=0, i.e. no early stopping)."""

    epochs: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-4
    patience: int = 20  # epochs without a better validation loss before stopping; 0 = never stop early
    seed: int = 0


@dataclass(frozen=True)
class Examples:
    """Predictor inputs and VA targets of some labelled pieces."""

    ids: list[str]
    inputs: np.ndarray  # (N, M * 4) float32
    targets: np.ndarray  # (N, 2) float32, (valence, arousal) on 1-9


def load_examples(items: Sequence[Item], config: VAPredictorConfig) -> tuple[Examples, list[Skipped]]:
    """Read every item's MIDI into a predictor input; unreadable or empty files are skipped with the reason."""
    ids, inputs, targets, skipped = [], [], [], []
    for item in tqdm(items, desc="reading MIDI", unit="file", leave=False, disable=None):
        try:
            notes = read_notes(item.path, config.resolution)
        except UserError as error:
            skipped.append(Skipped(item.id, str(error)))
            continue
        if len(notes) == 0:
            skipped.append(Skipped(item.id, "no notes"))
            continue
        ids.append(item.id)
        inputs.append(predictor_input(notes, config))
        targets.append((item.valence, item.arousal))
    inputs = np.stack(inputs) if inputs else np.zeros((0, config.input_dim), np.float32)
    return Examples(ids, inputs, np.asarray(targets, np.float32).reshape(-1, 2)), skipped


def select(examples: Examples, ids: Sequence[str]) -> Examples:
    """The examples whose id is in `ids` (ids without an example, e.g. skipped files, are ignored)."""
    wanted = set(ids)
    rows = [i for i, item_id in enumerate(examples.ids) if item_id in wanted]
    return Examples([examples.ids[i] for i in rows], examples.inputs[rows], examples.targets[rows])


def pearson_r(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation of two vectors; None when either is constant (r is undefined)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def evaluate(predicted: np.ndarray, target: np.ndarray) -> dict:
    """MAE and Pearson r per dimension, plus the MAE averaged over both (the paper's L_VA form)."""
    predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)  # (N, 2)
    figures = {
        name: {
            "mae": float(np.mean(np.abs(predicted[:, d] - target[:, d]))),
            "pearson_r": pearson_r(predicted[:, d], target[:, d]),
        }
        for d, name in enumerate(DIMENSIONS)
    }
    figures["mae_mean"] = float(np.mean(np.abs(predicted - target)))
    figures["n"] = len(target)
    return figures


class _EpochBar(keras.callbacks.Callback):
    """A tqdm bar over epochs showing the training and validation loss; says so when `early_stopping`
    (a keras EarlyStopping, or None) ended the training before the last epoch."""

    def __init__(self, epochs: int, early_stopping=None):
        super().__init__()
        self.bar = tqdm(total=epochs, desc="training VA predictor", unit="epoch", disable=None)
        self.early_stopping = early_stopping

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        nan = float("nan")
        self.bar.set_postfix(loss=f"{logs.get('loss', nan):.3f}", val=f"{logs.get('val_loss', nan):.3f}")
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()
        stopping = self.early_stopping
        if stopping is not None and stopping.stopped_epoch > 0:
            print(f"training VA predictor: stopped early at epoch {stopping.stopped_epoch + 1} of {self.bar.total}: "
                  f"no better validation loss for {stopping.patience} epoch(s); kept epoch {stopping.best_epoch + 1}")


def train_va_predictor(
    examples: Examples,
    split: dict[str, list[str]],
    config: VAPredictorConfig = VAPredictorConfig(),
    train_config: VATrainConfig = VATrainConfig(),
) -> tuple[VAPredictor, dict]:
    """Fit on split["train"], stop early on split["val"], evaluate on split["test"] beside the mean baseline.

    Returns the predictor and a JSON-ready dict of figures (per split, baseline, history, settings).
    """
    parts = {name: select(examples, split.get(name, [])) for name in SPLITS}
    for name, part in parts.items():
        if len(part.ids) == 0:
            raise UserError(f"the {name} split has no readable labelled MIDI: cannot train the VA predictor")

    keras.utils.set_random_seed(train_config.seed)
    train, val = parts["train"], parts["val"]
    model = build_va_predictor(config, *input_statistics(train.inputs, config))
    model.compile(optimizer=keras.optimizers.Adam(train_config.learning_rate), loss="mse")
    stopping = None
    if train_config.patience > 0:
        stopping = keras.callbacks.EarlyStopping(patience=train_config.patience, restore_best_weights=True)
    callbacks = [_EpochBar(train_config.epochs, stopping), *([stopping] if stopping else [])]
    history = model.fit(
        train.inputs,
        train.targets,
        batch_size=train_config.batch_size,
        epochs=train_config.epochs,
        validation_data=(val.inputs, val.targets),
        callbacks=callbacks,
        shuffle=True,
        verbose=0,
    )

    predictor = VAPredictor(model, config)
    train_mean = train.targets.mean(axis=0)  # (2,)
    figures = {
        name: evaluate(predictor.model.predict(part.inputs, verbose=0), part.targets)
        for name, part in parts.items()
    }
    figures["baseline_train_mean"] = {
        name: evaluate(np.broadcast_to(train_mean, part.targets.shape), part.targets)
        for name, part in parts.items()
    }
    val_loss = history.history["val_loss"]
    figures["training"] = {
        "epochs_run": len(val_loss),
        "best_epoch": int(np.argmin(val_loss)) + 1,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "train_mean": [float(v) for v in train_mean],
        "settings": dataclasses.asdict(train_config),
    }
    return predictor, figures


def split_ids_of(items: Sequence[Item], seed: int = 0) -> dict[str, list[str]]:
    """The project's split (`data.pairing.split_ids`: 100 test, 16 val, the rest train) of the items' ids."""
    return split_ids([item.id for item in items], seed)


def train_on_items(
    items: Sequence[Item],
    out: str | Path,
    config: VAPredictorConfig = VAPredictorConfig(),
    train_config: VATrainConfig = VATrainConfig(),
    split: dict[str, list[str]] | None = None,
    skipped: Sequence[Skipped] = (),
) -> dict:
    """Read, train, evaluate and save (model, config, metrics.json) into `out`; returns the figures.

    `split`: ids per split (default: `split_ids_of(items)`, seed 0). `skipped`:
    what the data source already left out, listed in metrics.json with the
    files that could not be read. An `out` that cannot be written fails before the training, which runs
    before `out` is made: a kill meanwhile leaves no folder.
    """
    check_writable_dir(out)
    split = split_ids_of(items) if split is None else split
    examples, unreadable = load_examples(items, config)
    predictor, figures = train_va_predictor(examples, split, config, train_config)
    figures["skipped"] = [dataclasses.asdict(s) for s in [*skipped, *unreadable]]
    with output_dir(out):
        predictor.save(out, figures)
    return figures
