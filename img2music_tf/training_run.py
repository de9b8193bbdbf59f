"""One training run, from prepared data to a run folder (`run_folder`) that generation loads (Section 3.4).

Prepared pairs -> tokens (the authors' published tokens as they are) -> the vocabulary of the training
split -> image features -> `train.fit_model` -> `model.keras`, `vocabulary.json`, `config.json`.

With image weights `none` (a random CNN), each feature dimension is standardised
with the training pairs' statistics, kept in config.json (`image_encoder.FeatureScaling`;
not in the paper: without it the random features of all pictures point the same way).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from img2music_tf.batches import Song
from img2music_tf.conditioning import net_inputs
from img2music_tf.corpus import tokenize_paths
from img2music_tf.data.prepare import MANIFEST, PreparedData, load_prepared
from img2music_tf.errors import UserError
from img2music_tf.files import output_dir
from img2music_tf.losses import VA_LOSSES
from img2music_tf.models.image_encoder import (FeatureScaling, check_weights, extract_features, weights_for,
                                               weights_sha256)
from img2music_tf.models.va_predictor import VAPredictor
from img2music_tf.presets import ModelConfig
from img2music_tf.run_folder import MODEL_FILE, VOCABULARY_FILE, RunInfo, check_run_folder, save_model
from img2music_tf.train import fit_model
from img2music_tf.vocabulary import Vocabulary


@dataclass(frozen=True)
class RunResult:
    """What `train_run` did: the run folder, the trained net and its vocabulary, the history, dropped songs."""

    out_dir: Path
    config: ModelConfig
    model: keras.Model
    vocabulary: Vocabulary
    history: list[dict]
    songs: dict[str, int]  # songs trained on / validated on
    dropped: list[dict]  # {"id", "split", "reason"} of songs that failed to tokenise


@dataclass(frozen=True)
class TrainingSongs:
    """A run's songs as token ids: the vocabulary of the training split, the (pair, ids) of every training
    and validation song, and what was left out. The same for every preset trained on the same data."""

    vocabulary: Vocabulary
    train: list[tuple]  # (data.pairing.Pair, token ids)
    val: list[tuple]  # validation songs; their tokens unknown to the vocabulary are left out
    dropped: list[dict]  # {"id", "split", "reason"} of songs that failed to tokenise
    val_tokens_unknown: int

    @property
    def pairs(self) -> list:
        """The training pairs, then the validation pairs: the order `songs` expects features in."""
        return [pair for pair, _ in self.train + self.val]

    @property
    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "val_tokens_unknown": self.val_tokens_unknown}

    def songs(self, features: np.ndarray) -> tuple[list[Song], list[Song]]:
        """Training and validation `Song`s, given the net's picture input (N, F) of each of `pairs` (the image
        feature, and for a VA-conditioned net the song's VA after it: `conditioning.net_inputs`)."""
        pairs = self.train + self.val
        songs = [Song(pair.music.id, feature, tuple(ids)) for (pair, ids), feature in zip(pairs, features)]
        return songs[: len(self.train)], songs[len(self.train) :]

    def run_info(self, info: RunInfo) -> RunInfo:
        """`info` completed with what the data says: the vocabulary size, song counts, dropped songs."""
        model = dataclasses.replace(info.model, vocab_size=len(self.vocabulary))
        return dataclasses.replace(info, model=model, songs=self.counts, dropped=self.dropped,
                                   vocabulary_sha256=self.vocabulary.sha256)


def tokenised_songs(prepared, max_songs: int | None = None, verbose: int = 1) -> TrainingSongs:
    """The first `max_songs` training songs and all validation songs of a `PreparedData`, tokenised, with the
    vocabulary built from the training split only (validation tokens unknown to it are left out and counted)."""
    train_tokens, dropped = tokenize_pairs(prepared.pairs_in("train")[:max_songs], "train", prepared.tokens, verbose)
    val_tokens, val_dropped = tokenize_pairs(prepared.pairs_in("val"), "val", prepared.tokens, verbose)
    if not train_tokens:
        raise UserError(f"no training song of {prepared.out} could be tokenised ({len(dropped)} failed)")
    vocabulary = Vocabulary.build(tokens for _, tokens in train_tokens)
    unknown = sum(token not in vocabulary for _, tokens in val_tokens for token in tokens)
    return TrainingSongs(
        vocabulary=vocabulary,
        train=[(pair, vocabulary.encode(tokens)) for pair, tokens in train_tokens],
        val=[(pair, vocabulary.encode(t for t in tokens if t in vocabulary)) for pair, tokens in val_tokens],
        dropped=dropped + val_dropped,
        val_tokens_unknown=unknown,
    )


def run_info(prepared, config: ModelConfig, seed: int, image_weights, va_predictor_dir, max_songs: int | None,
             backend: str | None = None) -> RunInfo:
    """A run's config.json before its data is read (`TrainingSongs.run_info` completes it); `backend`
    defaults to Keras' current one."""
    return RunInfo(
        model=config,
        seed=seed,
        backend=backend or keras.backend.backend(),
        keras=keras.__version__,
        image_weights=str(image_weights),
        image_weights_sha256=weights_sha256(image_weights),
        data=_data_source(prepared),
        va_predictor=None if va_predictor_dir is None else str(Path(va_predictor_dir).resolve()),
        max_songs=max_songs,
    )


def cnn_weights(spec, image_weights, verbose: int = 1) -> str:
    """The weights the run's picture CNN gets (`image_encoder.check_weights`, `weights_for`), said when they
    differ from those asked for because the encoder has no such weights."""
    usable = check_weights([spec], image_weights)
    weights = weights_for(spec, usable)
    if weights != usable and verbose:
        print(f"note: {spec.encoder} has no {usable} weights; it uses random weights (none)")
    return weights


def feature_scaling(train_features: np.ndarray, image_weights) -> FeatureScaling | None:
    """The standardisation of image features a run applies: with a random CNN (weights `none`), each dimension's
    mean and standard deviation over the training pairs (otherwise every picture looks the same); None with
    real CNN weights (the paper's path)."""
    return FeatureScaling.fit(train_features) if str(image_weights).lower() == "none" else None


def train_run(
    data,
    config: ModelConfig,
    out_dir: str | Path,
    seed: int = 0,
    image_weights: str | Path = "imagenet",
    va_predictor_dir: str | Path | None = None,
    resume: bool = False,
    max_songs: int | None = None,
    overwrite: bool = False,
    verbose: int = 1,
    snapshot_epochs: Sequence[int] = (),
) -> RunResult:
    """Prepared data -> tokens -> vocabulary -> image features -> fit -> run folder.

    `data` is a prepared folder (`img2music data prepare`) or its `PreparedData`.
    The vocabulary is built from the train split only; validation tokens unknown
    to it are left out (and counted). Songs that fail to tokenise are dropped
    and listed in `config.json`. `max_songs` keeps the first N training songs.
    `va_predictor_dir` (a trained music VA predictor, `img2music va train`) is
    required when the preset has `va_loss`. An existing run folder is an error
    unless `resume` (continue it) or `overwrite` (start again). `snapshot_epochs`: epochs
    after which the net is also saved (`run_folder.load_run(out_dir, epoch)` reads them).
    """
    prepared = data if isinstance(data, PreparedData) else load_prepared(data)
    if config.va_loss and va_predictor_dir is None:
        raise UserError(
            f"preset {config.name} trains with the VA loss: give a music VA predictor with --va-predictor DIR "
            "(train one with `img2music va train --out DIR`)"
        )
    with output_dir(out_dir) as out_dir:  # a run that fails before writing anything leaves no empty folder
        # bad image weights fail here, before tokenising and writing files (offline, imagenet may become torchvision)
        image_weights = cnn_weights(config.image_features, image_weights, verbose)
        info = run_info(prepared, config, seed, image_weights, va_predictor_dir, max_songs)
        resuming = check_run_folder(out_dir, info, resume, overwrite)  # the checkpoint is checked before any write
        if resume and not resuming:
            print(f"note: {out_dir} finished no epoch before it stopped, so there is nothing to resume: "
                  "training starts at epoch 1")
        resume = resuming
        # a missing or damaged predictor fails here too
        va_predictor = VAPredictor.load(va_predictor_dir) if config.va_loss else None

        data = tokenised_songs(prepared, max_songs, verbose)
        info = data.run_info(info)
        config = info.model
        features = extract_features(
            [pair.image.path for pair in data.pairs], config.image_features, weights=image_weights, seed=seed,
            progress=verbose > 0,
        )  # (N, F)
        scaling = feature_scaling(features[: len(data.train)], image_weights)
        if scaling is not None:
            features = scaling.apply(features)
            info = dataclasses.replace(info, feature_scaling=dataclasses.asdict(scaling))
        # a VA-conditioned preset reads each song's own VA label after its picture's feature (not in the paper)
        features = net_inputs(features, [(pair.music.valence, pair.music.arousal) for pair in data.pairs], config)
        train_songs, val_songs = data.songs(features)
        vocabulary = data.vocabulary
        if resume and Vocabulary.load(out_dir / VOCABULARY_FILE) != vocabulary:
            raise UserError(f"cannot resume {out_dir}: its vocabulary differs from this data's (was it re-prepared?)")
        vocabulary.save(out_dir / VOCABULARY_FILE)
        info.write(out_dir)
        if verbose:
            print(f"training {config.name} on {len(train_songs)} songs ({len(data.dropped)} dropped), "
                  f"validating on {len(val_songs)}; vocabulary {len(vocabulary)} ids; run folder {out_dir}")

        va_loss = VA_LOSSES[config.va_term](vocabulary, va_predictor) if config.va_loss else None
        net, history = fit_model(config, train_songs, val_songs, out_dir, seed, va_loss, resume, verbose,
                                 snapshot_epochs)
        save_model(net, out_dir / MODEL_FILE)
        return RunResult(out_dir, config, net, vocabulary, history, data.counts, data.dropped)


def _data_source(prepared) -> dict:
    """Where the training data came from: the prepared folder and the inputs its manifest records."""
    manifest = Path(prepared.out) / MANIFEST
    inputs = json.loads(manifest.read_text(encoding="utf-8")).get("inputs") if manifest.is_file() else None
    return {"prepared": str(Path(prepared.out).resolve()), "inputs": inputs}


def tokenize_pairs(pairs, split: str, given: dict | None = None, verbose: int = 1) -> tuple[list, list[dict]]:
    """(pair, tokens) of the pairs whose music tokenises, and the dropped ones with the reason.

    `given` (music id -> tokens; `PreparedData.tokens`) holds a source's published tokens, used as they
    are (the authors' data is never re-tokenised).
    """
    if given is not None:
        return [(pair, list(given[pair.music.id])) for pair in pairs], []
    results = tokenize_paths([pair.music.path for pair in pairs], progress=verbose > 0)
    kept = [(pair, result.tokens) for pair, result in zip(pairs, results) if result.tokens]
    dropped = [
        {"id": pair.music.id, "split": split, "reason": result.error or "no tokens"}
        for pair, result in zip(pairs, results)
        if not result.tokens
    ]
    return kept, dropped
