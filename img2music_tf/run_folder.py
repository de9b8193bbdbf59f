"""A run folder: what training writes and generation reads, and the run's metadata.

A run folder holds `config.json` (`RunInfo`: the model config, seed, backend, image weights,
data, VA predictor, songs, the vocabulary's sha256), `vocabulary.json`, `model.keras` (the
final net), `history.csv` (one row per epoch), `checkpoint/last.npz` (written by `train`, every
epoch) and, for the epochs asked for, `snapshots/epoch-NNN.keras` (the net after that epoch).
`load_run` reads a finished folder into a `Run`, ready for generation; `check_run_folder` keeps
two trainings from mixing in one folder.

A run trained elsewhere (the GPU queue, `gpu_queue`) comes back without weights: its folder holds
`test_tokens/epoch-NNN.json` (the test images' greedy tokens after that epoch) instead of the
`.keras` files, which is enough to score it (`study.pipeline.generate_test_music`) and counts as finished,
and `timings.json` (where and how fast it trained).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from img2music_tf.conditioning import net_inputs
from img2music_tf.errors import UserError
from img2music_tf.files import atomic_path, check_zip, load_keras_model, write_json, write_text
from img2music_tf.models.image_encoder import FeatureScaling, extract_features
from img2music_tf.presets import ModelConfig
from img2music_tf.vocabulary import Vocabulary

RUN_CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
TIMINGS_FILE = "timings.json"
CHECKPOINT_FILE = Path("checkpoint") / "last.npz"
SNAPSHOT_FOLDER = Path("snapshots")
LATER_MODEL_FIELDS = ("va_condition",)
"""Model fields added after runs were shipped, whose default is what every run written before them did (the
shipped model's config.json has none): a run without them is whole."""
TEST_TOKENS_FOLDER = Path("test_tokens")
HISTORY_COLUMNS = (
    "epoch",
    "loss",
    "cross_entropy",
    "va_loss",
    "val_loss",
    "val_cross_entropy",
    "val_va_loss",
    "seconds",
)


@dataclass(frozen=True)
class RunInfo:
    """`config.json` of a run: the model config and everything else its weights depend on."""

    model: ModelConfig
    seed: int
    backend: str
    keras: str
    image_weights: str  # imagenet, torchvision, none or a file (image_encoder.WEIGHTS)
    data: dict  # {"prepared": folder, "inputs": the prepared manifest's inputs}
    va_predictor: str | None  # the music VA predictor folder the VA term used
    max_songs: int | None
    songs: dict | None = None  # {"train": n, "val": n, "val_tokens_unknown": n}, known once the data is read
    dropped: list | None = None  # [{"id", "split", "reason"}] of songs that failed to tokenise
    vocabulary_sha256: str | None = None  # `Vocabulary.sha256` of vocabulary.json (None in runs written before it)
    feature_scaling: dict | None = None  # {"mean", "std"} of the training features (image weights `none`), or None
    image_weights_sha256: str | None = None  # of the weights file the CNN loaded (torchvision, a file), else None

    def to_dict(self) -> dict:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, values: dict, whole: bool = False) -> "RunInfo":
        """Inverse of `to_dict`. `whole` (a run to generate with): every model field must be there, since a lost
        `model.max_len` would quietly become the default (`LATER_MODEL_FIELDS` excepted); without it, a record written before a model field
        existed gets its default (GPU results). The run's own fields with defaults (checksums, counts) came
        later and stay optional: runs written before them are accepted unchecked."""
        if whole:
            model = values.get("model") if isinstance(values.get("model"), dict) else {}
            missing = [f.name for f in dataclasses.fields(cls)
                       if f.name not in values and f.default is dataclasses.MISSING]
            missing += [f"model.{f.name}" for f in dataclasses.fields(ModelConfig)
                        if f.name not in model and f.name not in LATER_MODEL_FIELDS]
            if missing:
                raise UserError(f"a run's {RUN_CONFIG_FILE} lacks {', '.join(missing)}: it was edited or written by "
                                "an older version; train the run again")
        try:
            info = cls(**{**values, "model": ModelConfig.from_dict(values["model"])})
        except (KeyError, TypeError) as error:
            raise UserError(f"a run's {RUN_CONFIG_FILE} lacks or has unknown fields ({error})") from None
        if info.feature_scaling is not None and not _usable_scaling(info.feature_scaling):
            raise UserError(f"a run's {RUN_CONFIG_FILE} holds a damaged feature_scaling (mean and std must be "
                            "lists of one length, finite, std above 0); train the run again")
        return info

    @classmethod
    def read(cls, folder: str | Path, whole: bool = False) -> "RunInfo":
        return cls.from_dict(read_config(folder), whole)

    def write(self, folder: str | Path) -> Path:
        return write_json(Path(folder) / RUN_CONFIG_FILE, self.to_dict())


def _usable_scaling(scaling) -> bool:
    """Whether a recorded feature scaling is {"mean": [...], "std": [...]} of one length, finite, std > 0."""
    if not isinstance(scaling, dict) or set(scaling) != {"mean", "std"}:
        return False
    try:
        mean, std = np.asarray(scaling["mean"], np.float64), np.asarray(scaling["std"], np.float64)
    except (TypeError, ValueError):
        return False
    return (mean.ndim == 1 and mean.shape == std.shape and bool(np.isfinite(mean).all())
            and bool(np.isfinite(std).all()) and bool((std > 0).all()))


def read_config(folder: str | Path) -> dict:
    """The JSON object in a run's config.json; a UserError if it is unreadable, truncated or not an object."""
    path = Path(folder) / RUN_CONFIG_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: JSON or UTF-8 decoding
        raise UserError(f"cannot read {path} ({error}); train the run again with --force") from None
    if not isinstance(values, dict):
        raise UserError(f"{path} is not a run's config (a JSON object); train the run again with --force")
    return values


def write_history(path: str | Path, rows: Sequence[dict]) -> Path:
    """`history.csv`: one row per epoch with HISTORY_COLUMNS (va columns empty without a VA term)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, text.getvalue())


def read_history(path: str | Path) -> list[dict]:
    """Rows of `history.csv` as dicts of floats (None where a column is empty)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(handle)]


def snapshot_file(epoch: int) -> Path:
    """Where the net after `epoch` is kept, relative to the run folder."""
    return SNAPSHOT_FOLDER / f"epoch-{epoch:03d}.keras"


def test_tokens_file(epoch: int) -> Path:
    """Where a run trained elsewhere keeps its test images' generated tokens after `epoch`, relative to
    the run folder."""
    return TEST_TOKENS_FOLDER / f"epoch-{epoch:03d}.json"


def write_test_tokens(folder: str | Path, epoch: int, tokens: dict[str, list[str]]) -> Path:
    """Write {image id: tokens} generated after `epoch` into the run folder (one line of tokens per image)."""
    return write_json(Path(folder) / test_tokens_file(epoch),
                      {"epoch": epoch, "images": {image: " ".join(seq) for image, seq in tokens.items()}})


def read_test_tokens(folder: str | Path, epoch: int) -> dict[str, list[str]] | None:
    """{image id: tokens} stored for `epoch` (`write_test_tokens`), or None when the run has none."""
    path = Path(folder) / test_tokens_file(epoch)
    if not path.is_file():
        return None
    try:
        images = json.loads(path.read_text(encoding="utf-8"))["images"]
        return {image: line.split() for image, line in images.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"cannot read the generated tokens {path} ({error}); merge the run again") from None


def read_timings(folder: str | Path) -> dict | None:
    """`timings.json` of a run trained elsewhere (device, versions, seconds per epoch, compilations), else None."""
    path = Path(folder) / TIMINGS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def trained_epochs(folder: str | Path) -> int:
    """Epochs a finished run trained (rows of its history)."""
    return len(read_history(Path(folder) / HISTORY_FILE)) if (Path(folder) / HISTORY_FILE).is_file() else 0


def save_model(net, path: str | Path) -> Path:
    """Save a Keras model in the native `.keras` format, atomically."""
    import keras

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        keras.saving.save_model(net, Path(scratch) / MODEL_FILE)  # Keras insists on the `.keras` suffix
        shutil.move(Path(scratch) / MODEL_FILE, tmp)
    return path


def is_finished(folder: str | Path) -> bool:
    """True when `folder` holds a finished run: config.json and its final model (written last), or, for a run
    trained elsewhere, the test tokens of its last epoch."""
    folder = Path(folder)
    if not (folder / RUN_CONFIG_FILE).is_file():
        return False
    return (folder / MODEL_FILE).is_file() or (folder / test_tokens_file(trained_epochs(folder))).is_file()


def holds_epoch(folder: str | Path, epoch: int) -> bool:
    """True when the run can give its test music after `epoch`: the test tokens a run trained elsewhere
    brought for that epoch (a run stopped early brings those of its snapshot epochs), a snapshot of that
    epoch, or its final model when it ended there."""
    folder = Path(folder)
    if not (folder / RUN_CONFIG_FILE).is_file():
        return False
    if (folder / test_tokens_file(epoch)).is_file() or (folder / snapshot_file(epoch)).is_file():
        return True
    return (folder / MODEL_FILE).is_file() and trained_epochs(folder) == epoch


def check_run_folder(out_dir: Path, info: RunInfo, resume: bool, overwrite: bool) -> bool:
    """Refuse to mix runs: resume only the same run (epochs may grow); never overwrite one by accident. Return
    whether training continues from the folder's checkpoint; otherwise the folder is cleared for a new run.

    A folder that finished no epoch (stopped or failed in epoch 1: config.json and vocabulary.json, no checkpoint,
    no model) holds no run to resume or protect: it is cleared, and trained from epoch 1 with `resume` too. A
    checkpoint to resume is checked here, before anything is written (a copy cut short is a UserError).
    """
    config_file = out_dir / RUN_CONFIG_FILE
    if not ((out_dir / CHECKPOINT_FILE).is_file() or (out_dir / MODEL_FILE).is_file()):
        if resume and not config_file.is_file():
            raise UserError(f"nothing to resume in {out_dir}: no {RUN_CONFIG_FILE}; train without --resume")
        if config_file.is_file() and not overwrite:
            RunInfo.read(out_dir)  # a config.json that is not a run's is never deleted without --force
        _clear_run(out_dir)
        return False
    if not resume:
        if not overwrite:
            raise UserError(f"{out_dir} already holds a run: use --resume to continue it, --force or another --out")
        _clear_run(out_dir)
        return False
    if not config_file.is_file():
        raise UserError(f"nothing to resume in {out_dir}: no {RUN_CONFIG_FILE}; start again with --force")
    if not (out_dir / CHECKPOINT_FILE).is_file():
        raise UserError(f"nothing to resume in {out_dir}: its model has no {CHECKPOINT_FILE}; start again with --force")
    check_zip(out_dir / CHECKPOINT_FILE)
    saved = read_config(out_dir)

    def settings(run: dict) -> dict:  # what must not change; epochs may grow, the rest comes from the data
        later = {field.name: field.default for field in dataclasses.fields(ModelConfig)
                 if field.name in LATER_MODEL_FIELDS}  # a run written before them did what their default does
        return {**run, "model": {**later, **run.get("model", {}), "epochs": None, "vocab_size": None},
                "songs": None, "dropped": None, "vocabulary_sha256": None, "feature_scaling": None}

    wanted, kept = settings(info.to_dict()), settings(saved)
    changed = [f"{key}.{field}: {(kept.get(key) or {}).get(field)!r} -> {value!r}"
               for key in wanted if isinstance(wanted[key], dict)
               for field, value in wanted[key].items() if (kept.get(key) or {}).get(field) != value]
    changed += [f"{key}: {kept.get(key)!r} -> {wanted[key]!r}" for key in wanted
                if not isinstance(wanted[key], dict) and wanted[key] != kept.get(key)]
    if changed:
        raise UserError(f"cannot resume {out_dir}: this run's settings differ from its ({'; '.join(changed)}); "
                        "resume with the same settings, or start again with --force")
    return True


def _clear_run(out_dir: Path) -> None:
    """Remove what a run wrote into `out_dir` (its other files stay)."""
    shutil.rmtree(out_dir / CHECKPOINT_FILE.parent, ignore_errors=True)
    shutil.rmtree(out_dir / SNAPSHOT_FOLDER, ignore_errors=True)
    for name in (RUN_CONFIG_FILE, VOCABULARY_FILE, MODEL_FILE, HISTORY_FILE):
        (out_dir / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class Run:
    """A finished run folder, ready for generation: `model` (image features + prefix -> next-token
    probabilities), its `vocabulary` and its `info` (config.json; `config` is its ModelConfig)."""

    folder: Path
    model: object  # keras.Model
    vocabulary: Vocabulary
    info: RunInfo

    @property
    def config(self) -> ModelConfig:
        return self.info.model

    def image_features(self, paths, progress: bool = True) -> np.ndarray:
        """Features (N, F) of images, from the same CNN, weights and seed the run was trained with, and
        standardised as in its training when it was (`RunInfo.feature_scaling`)."""
        features = extract_features(paths, self.config.image_features, weights=self.info.image_weights,
                                    seed=self.info.seed, progress=progress)  # (N, F)
        if self.info.feature_scaling is None:
            return features
        if len(self.info.feature_scaling["mean"]) != features.shape[1]:
            raise UserError(f"{self.folder}: its feature_scaling has {len(self.info.feature_scaling['mean'])} "
                            f"dimensions, its CNN gives {features.shape[1]}; train the run again")
        return FeatureScaling(**self.info.feature_scaling).apply(features)


    def net_inputs(self, paths, va=None, progress: bool = True) -> np.ndarray:
        """What the net reads for these pictures (`conditioning.net_inputs`): their features (N, F), followed for
        a VA-conditioned run by the (valence, arousal) each piece should express (`va`: N pairs on 1-9)."""
        return net_inputs(self.image_features(paths, progress), va, self.config)


def load_run(out_dir: str | Path, epoch: int | None = None) -> Run:
    """Read a run folder written by `training_run.train_run` (UserError if files are missing, damaged or disagree);
    with `epoch`, the net as it was after that epoch (a snapshot, or the final model when it is the last).

    The vocabulary must be the one the model was trained with: same size, and the same sha256 as config.json
    records (runs written before that field are accepted unchecked).
    """
    import img2music_tf.models.img2music  # noqa: F401 - registers the net's classes, which load_model needs

    out_dir = Path(out_dir)
    missing = [name for name in (RUN_CONFIG_FILE, VOCABULARY_FILE, MODEL_FILE) if not (out_dir / name).is_file()]
    if missing == [MODEL_FILE] and (out_dir / TEST_TOKENS_FOLDER).is_dir():
        raise UserError(f"{out_dir} was trained elsewhere and holds its test images' generated tokens, not its "
                        "weights: it can be scored, not run on other pictures")
    if missing:
        raise UserError(f"{out_dir} is not a finished run folder (missing {', '.join(missing)}); "
                        f"train one with `img2music train --out {out_dir}`")
    info = RunInfo.read(out_dir, whole=True)
    vocabulary = Vocabulary.load(out_dir / VOCABULARY_FILE)
    if info.vocabulary_sha256 is not None and info.vocabulary_sha256 != vocabulary.sha256:
        raise UserError(f"{out_dir}: {VOCABULARY_FILE} is not the one the model was trained with (its sha256 "
                        f"differs from {RUN_CONFIG_FILE}'s); the files come from different runs or were edited")
    model_file = MODEL_FILE
    if epoch is not None and epoch != trained_epochs(out_dir):
        model_file = snapshot_file(epoch)
        if not (out_dir / model_file).is_file():
            raise UserError(f"{out_dir} kept no snapshot of epoch {epoch} (it trained {trained_epochs(out_dir)} "
                            "epochs): train it again with that epoch among its snapshots")
    model = load_keras_model(out_dir / model_file)
    if model.output_shape[-1] != len(vocabulary):
        raise UserError(f"{out_dir}: the model predicts {model.output_shape[-1]} tokens but the vocabulary "
                        f"has {len(vocabulary)}; the files come from different runs")
    return Run(out_dir, model, vocabulary, info)
