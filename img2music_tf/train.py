"""The trainer: the paper's loss on the image-to-music net, fitted song by song, with checkpoints.

Paper Section 3.4 / docs/fidelity.md, row "training samples": one song is one batch of its
(image feature, left-padded token prefix) -> next token samples
(`img2music_tf.batches`; prefixes padded to the song's length bucket instead of
236, equivalent because padding is masked: tested); Adam (beta1 0.9, beta2 0.999)
at the preset's learning rate for the preset's epochs. The loss is Section 3.3.4's
L_total = lambda_va * L_VA + lambda_cc * L_CC, added in `Model.compute_loss` so the
same code runs under TensorFlow and JAX. L_VA goes through an argmax, so it
carries no gradient: it changes the reported loss, never the weights
(docs/fidelity.md "VA loss gradient").

After every epoch, `history.csv` and `checkpoint/last.npz` (weights, dropout
seed states, optimizer state, epoch and history) are rewritten atomically;
`resume=True` continues from the checkpoint and ends with the same weights as
an uninterrupted run with the same seed. `training_run.train_run` makes a run folder with it.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
from keras import ops

from img2music_tf.batches import BUCKET, Song, SongBatches
from img2music_tf.errors import UserError
from img2music_tf.files import atomic_path, check_zip
from img2music_tf.models.img2music import build_model
from img2music_tf.presets import ModelConfig
from img2music_tf.run_folder import (CHECKPOINT_FILE, HISTORY_COLUMNS, HISTORY_FILE, save_model, snapshot_file,
                                     write_history)
from img2music_tf.vocabulary import PAD_ID


class Img2MusicTrainer(keras.Model):
    """Wraps the image-to-music network with the paper's training loss (Section 3.3.4).

    `compute_loss` returns lambda_cc * L_CC (+ lambda_va * L_VA when `va_loss` is
    given) and logs both terms: `cross_entropy` and `va_loss` (the raw L_VA,
    before lambda_va). `va_loss` is a callable `(y_true_ids (B,), y_pred (B, V))
    -> scalar`, e.g. `img2music_tf.losses.VALoss`. Only `net` is saved.

    Rows whose target is `PAD_ID` are padding rows (`batches.song_groups`): they
    count nowhere, so every logged value, `loss` included, is the mean over real
    samples whatever the padding.

    A batch is a tuple of row groups (`batches.SongBatches`), each padded to its own
    prefix length: the net runs on each and their probabilities are concatenated in
    order, so the loss, its gradient (the sum of the groups' gradients) and the one
    Adam step per song are those of the song as one batch, up to float summation
    order; only dropout draws its masks per group. Padding is masked, so each group
    pays only for its own length.
    """

    def __init__(self, net: keras.Model, va_loss=None, lambda_va: float = 1e-5, lambda_cc: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.va_loss = va_loss
        self.lambda_va = float(lambda_va)
        self.lambda_cc = float(lambda_cc)
        self.cross_entropy_tracker = keras.metrics.Mean(name="cross_entropy")
        self.va_loss_tracker = keras.metrics.Mean(name="va_loss")
        self.real_loss_tracker = keras.metrics.Mean(name="real_loss")

    def call(self, inputs, training=False):
        """Next-token probabilities (B, V) of a batch `{"image", "tokens"}`, or of a tuple of row groups
        (B_k rows each), concatenated in order (B = sum of B_k)."""
        groups = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
        return ops.concatenate([self.net(group, training=training) for group in groups], axis=0)  # (B, V)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        y_pred = ops.cast(y_pred, "float32")  # (B, V): every loss term in float32, also under mixed precision
        real = ops.cast(ops.not_equal(y, PAD_ID), "float32")  # (B,): 0 on padding rows
        count = ops.sum(real)
        cross_entropy = ops.sum(real * keras.losses.sparse_categorical_crossentropy(y, y_pred)) / count  # L_CC
        total = self.lambda_cc * cross_entropy
        self.cross_entropy_tracker.update_state(cross_entropy, sample_weight=count)
        if self.va_loss is not None:
            # L_VA: no gradient path (argmax). Padding rows become all-zero rows, whose argmax is PAD_ID,
            # which adds no note: the sequences are the song's own.
            va = self.va_loss(y, y_pred * real[:, None])
            total = total + self.lambda_va * va
            self.va_loss_tracker.update_state(va, sample_weight=count)
        self.real_loss_tracker.update_state(total, sample_weight=count)
        return total

    def get_metrics_result(self):
        """Keras weighs its own `loss` by the rows of a batch, padding rows included: report ours instead."""
        logs = super().get_metrics_result()
        logs["loss"] = logs.pop("real_loss")
        return logs


def compile_trainer(trainer: Img2MusicTrainer, config, run_eagerly: bool = False) -> Img2MusicTrainer:
    """Adam at the preset's learning rate and betas (paper Section 3.4: 0.9, 0.999); its state is built at once."""
    optimizer = keras.optimizers.Adam(
        learning_rate=config.learning_rate, beta_1=config.adam_beta_1, beta_2=config.adam_beta_2
    )
    trainer.compile(optimizer=optimizer, run_eagerly=run_eagerly)
    optimizer.build(trainer.trainable_variables)
    return trainer


def _state_variables(trainer: Img2MusicTrainer) -> list:
    """Everything an exact resume needs: weights, dropout seed states, optimizer slots and step count."""
    return list(trainer.variables) + list(trainer.optimizer.variables)


def save_checkpoint(path: str | Path, trainer: Img2MusicTrainer, state: dict) -> Path:
    """Write all training state plus `state` (JSON: epoch, seed, history) to one `.npz`, atomically."""
    arrays = {f"v{i:05d}": ops.convert_to_numpy(v.value) for i, v in enumerate(_state_variables(trainer))}
    arrays["state"] = np.asarray(json.dumps(state))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


def checkpoint_state(path: str | Path) -> dict:
    """The JSON state (epoch, seed, history) of a `save_checkpoint` file."""
    with np.load(path) as data:
        return json.loads(str(data["state"]))


def restore_checkpoint(path: str | Path, trainer: Img2MusicTrainer) -> dict:
    """Load a `save_checkpoint` file into a trainer built and compiled the same way; return its state."""
    with np.load(path) as data:
        variables = _state_variables(trainer)
        names = sorted(name for name in data.files if name != "state")
        shapes = [tuple(v.shape) for v in variables]
        if len(names) != len(variables) or any(data[n].shape != s for n, s in zip(names, shapes)):
            raise UserError(f"checkpoint {path} does not match this model and optimizer: was the preset changed?")
        for name, variable in zip(names, variables):
            variable.assign(data[name])
        return json.loads(str(data["state"]))


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: add a history row, rewrite `history.csv` and the checkpoint (atomically); after
    each epoch of `snapshot_epochs`, save the net as it is then (`run_folder.snapshot_file`)."""

    def __init__(self, out_dir: Path, seed: int, rows: list[dict], snapshot_epochs: Sequence[int] = ()):
        super().__init__()
        self.out_dir = Path(out_dir)
        self.seed = seed
        self.rows = rows
        self.snapshot_epochs = set(snapshot_epochs)
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {name: logs.get(name) for name in HISTORY_COLUMNS[1:-1]}
        if self.model.va_loss is None:
            row["va_loss"] = row["val_va_loss"] = None
        row = {k: None if v is None else float(v) for k, v in row.items()}
        self.rows.append({"epoch": epoch + 1, **row, "seconds": round(time.perf_counter() - self.started, 3)})
        if epoch + 1 in self.snapshot_epochs:
            save_model(self.model.net, self.out_dir / snapshot_file(epoch + 1))
        save_checkpoint(self.out_dir / CHECKPOINT_FILE, self.model, {"epoch": epoch + 1, "seed": self.seed, "history": self.rows})
        write_history(self.out_dir / HISTORY_FILE, self.rows)


def training_batches(songs: Sequence[Song], max_len: int, seed: int = 0, xla: bool = False, start_epoch: int = 0,
                     bucket: int | None = BUCKET, group_rows: int | None = None,
                     shuffle: bool = True) -> SongBatches:
    """Training songs laid out as `fit_songs` trains them: prefixes padded to length buckets and, where the
    step is XLA-compiled (`xla`: one program per layout), the rows too; in a new order each epoch, or in
    their given order every epoch (`shuffle=False`, as the authors' generator)."""
    return SongBatches(songs, max_len, seed=seed, shuffle=shuffle, start_epoch=start_epoch, bucket=bucket,
                       batch_bucket=bucket if xla else None, group_rows=group_rows)


def fit_songs(
    trainer: Img2MusicTrainer,
    train_songs: Sequence[Song],
    val_songs: Sequence[Song],
    max_len: int,
    epochs: int,
    out_dir: str | Path,
    seed: int = 0,
    resume: bool = False,
    verbose: int = 1,
    bucket: int | None = BUCKET,
    snapshot_epochs: Sequence[int] = (),
    callbacks: Sequence[keras.callbacks.Callback] = (),
    group_rows: int | None = None,
    shuffle_songs: bool = True,
) -> list[dict]:
    """Train a compiled trainer for `epochs` epochs (one song per batch); return the history rows.

    The net is also saved after each epoch in `snapshot_epochs` (a row of Table 1 is the
    2-epoch state of a 15-epoch run). With `resume`, the state in `out_dir/checkpoint/last.npz` is restored first and
    training continues after its last finished epoch. Prefixes are padded to
    length buckets (`batches`; `bucket=None`: to `max_len`, as the authors did).
    `group_rows` splits each training song into row groups of at most that many
    rows, each padded to its own length (`batches.group_shapes`; None: the song is
    one group): the same step with less arithmetic on padding and smaller
    activations per group; a multiple of `bucket` keeps the shapes few.
    Songs come in a new order each epoch, drawn from `seed`, or with
    `shuffle_songs=False` in their given order every epoch (`fidelity="code"`).
    Where the step is XLA-compiled (JAX; TensorFlow on a GPU), which compiles one
    program per batch shape, batch rows are padded to buckets too, so a few
    compilations serve every song, and every validation song is padded to the
    largest one's shape (one validation program: at paper scale 16 forward
    passes, where 3 more compilations would cost more); TensorFlow on a CPU runs
    one graph for all shapes, where padding rows would only cost time. `callbacks`
    run after the epoch's history row and checkpoint are written (e.g. decoding at
    some epochs).
    """
    out_dir = Path(out_dir)
    rows: list[dict] = []
    done = 0
    if resume:
        if not (out_dir / CHECKPOINT_FILE).is_file():
            raise UserError(f"nothing to resume: no checkpoint in {out_dir / CHECKPOINT_FILE.parent}")
        check_zip(out_dir / CHECKPOINT_FILE)  # an .npz cut short by a copy: one line, not a BadZipFile
        if checkpoint_state(out_dir / CHECKPOINT_FILE)["seed"] != seed:
            raise UserError(f"the checkpoint in {out_dir} was trained with another seed than {seed}")
        state = restore_checkpoint(out_dir / CHECKPOINT_FILE, trainer)
        done, rows = state["epoch"], state["history"]
    xla = trainer.jit_compile
    train = training_batches(train_songs, max_len, seed, xla, done, bucket, group_rows, shuffle_songs)
    val_songs = [song for song in val_songs if len(song.ids) >= 2]
    val = SongBatches(val_songs, max_len, shuffle=False, bucket=bucket, batch_bucket=train.batch_bucket,
                      one_shape=xla) if val_songs else None
    if done < epochs:
        trainer.fit(
            train,
            validation_data=val,
            epochs=epochs,
            initial_epoch=done,
            callbacks=[EpochCheckpoint(out_dir, seed, rows, snapshot_epochs), *callbacks],
            shuffle=False,
            verbose=verbose,
        )
    return rows


def fit_model(config: ModelConfig, train_songs: Sequence[Song], val_songs: Sequence[Song], out_dir: Path,
              seed: int = 0, va_loss=None, resume: bool = False, verbose: int = 1,
              snapshot_epochs: Sequence[int] = (), callbacks: Sequence[keras.callbacks.Callback] = ()):
    """Build the net of `config` from `seed`, compile it with the paper's loss (`va_loss`: a `losses.VALoss`
    or None) and train it with `fit_songs` (in row groups of `config.group_rows`); return (the trained net,
    the history rows)."""
    with _dtype_policy("mixed_bfloat16" if config.mixed_precision else "float32"):
        keras.utils.set_random_seed(seed)  # after loading the predictor: the net's weights do not depend on it
        net = build_model(config)
        trainer = compile_trainer(Img2MusicTrainer(net, va_loss, config.lambda_va, config.lambda_cc), config)
        history = fit_songs(trainer, train_songs, val_songs, config.max_len, config.epochs, out_dir, seed,
                            resume, verbose, snapshot_epochs=snapshot_epochs, callbacks=callbacks,
                            group_rows=config.group_rows, shuffle_songs=config.shuffle_songs)
    return trainer.net, history


@contextlib.contextmanager
def _dtype_policy(name: str):
    """Keras' global dtype policy set to `name` for the block (bf16 mixed precision for a run that asks)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
