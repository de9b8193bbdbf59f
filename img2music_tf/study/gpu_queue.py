"""The GPU queue: paper-scale runs for a GPU lent in short windows, in three steps, one command each.

`pack` (CPU): everything the GPU does not need is done beforehand, into one small folder: the
prepared pairs, the vocabulary, the songs as id arrays, the image features (training, validation
and test images), the music VA predictor with `VALoss`' lookup tables (which need music21), the
reference metrics; and the queue, `experiments.training_plan` in `queue_order` (the runs that
serve the most table rows first), each entry with its seed, epochs, snapshot epochs, config.json
and a cost in padded token positions. `download_wheels` adds the wheels the GPU machine lacks.

`gpu_run.run_queue` (GPU, JAX only): trains the queue within a time budget and brings back one
`results.json` of history, generated test tokens and timings, no weights.

`merge` (CPU): writes each finished run as a run folder at the reproduction's own path
(`Settings.run_dir`) holding test tokens instead of weights (`run_folder.write_test_tokens`), and
renders every artefact from the runs present (`Settings.existing_only`), naming the missing rows.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from img2music_tf.batches import BUCKET, batch_shape
from img2music_tf.errors import UserError
from img2music_tf.experiments import (ARTEFACTS, FEATURE_DTYPES, PACK_LIMIT_MIB, RESULTS_FILE, Scale, queue_order,
                                      rows_served, training_plan)
from img2music_tf.files import check_replaceable, made_folders_removed_if_failed, replaced_folder, write_json
from img2music_tf.losses import token_tables
from img2music_tf.models.image_encoder import check_weights, extract_features, weights_tag
from img2music_tf.models.va_predictor import VAPredictor
from img2music_tf.paths import project_dir, results_dir, shown
from img2music_tf.presets import get_preset
from img2music_tf.run_folder import (HISTORY_FILE, MODEL_FILE, RUN_CONFIG_FILE, TIMINGS_FILE, VOCABULARY_FILE, RunInfo,
                                     write_history, write_test_tokens)
from img2music_tf.study.artefacts import Context, Settings, run_artefact
from img2music_tf.study.gpu_pack import (FEATURES_FILE, FORMAT, QUEUE_FILE, SONGS_FILE, VA_PREDICTOR_FOLDER,
                                         VA_TABLES_FILE, Entry)
from img2music_tf.training_run import cnn_weights, feature_scaling, run_info, tokenised_songs
from img2music_tf.vocabulary import Vocabulary

GPU_HAS = ("numpy", "h5py", "ml_dtypes", "scipy", "jax", "jaxlib", "opt_einsum")
"""Packages the GPU machine has: `download_wheels` leaves them out."""


# ---------------------------------------------------------------- settings, as the pack records them


def settings_record(settings: Settings) -> dict:
    """What `settings_from_record` needs to rebuild the reproduction's settings on the CPU after the GPU."""
    return {
        "scale": dataclasses.asdict(settings.scale),
        "seeds": list(settings.seeds),
        "data": settings.data,
        "work": shown(settings.work),
        "fidelity": settings.fidelity,
        "test_pieces": settings.test_pieces,
        "va_predictor": shown(settings.va_predictor) if settings.va_predictor else None,
        "backend": settings.backend,
    }


def settings_from_record(record: dict, out: Path, work: Path | None = None) -> Settings:
    """The settings a pack was made with, writing artefacts into `out`, reading only the runs present."""
    scale = dict(record["scale"])
    if scale["va_hidden_units"] is not None:
        scale["va_hidden_units"] = tuple(scale["va_hidden_units"])
    return Settings(
        scale=Scale(**scale),
        seeds=tuple(record["seeds"]),
        data=record["data"],
        out=Path(out),
        work=Path(work) if work else project_dir() / record["work"],
        fidelity=record["fidelity"],
        test_pieces=record["test_pieces"],
        va_predictor=project_dir() / record["va_predictor"] if record["va_predictor"] else None,
        backend=record["backend"],
        existing_only=True,
    )


# ---------------------------------------------------------------- pack (CPU)


def pack(settings: Settings, out: Path, feature_dtype: str = "float32", presets: list[str] | None = None) -> Path:
    """Everything the GPU needs but cannot make, and the queue, into the folder `out` (replaced at once);
    `presets`: queue only these trained presets (default: every one `experiments.training_plan` names)."""
    if feature_dtype not in FEATURE_DTYPES:
        raise UserError(f"feature dtype must be one of {', '.join(FEATURE_DTYPES)}, got {feature_dtype!r}")
    if settings.backend != "jax":
        raise UserError(f"the GPU queue trains under JAX, not {settings.backend}")
    plan = training_plan(settings.scale.epochs)
    unknown = sorted(set(presets or ()) - set(plan))
    if unknown:
        raise UserError(f"{', '.join(unknown)} is not trained by any artefact; choose from {', '.join(plan)}")
    order = [preset for preset in queue_order(plan) if not presets or preset in presets]
    asked = check_weights(settings.feature_specs(order), settings.scale.image_weights)  # offline: torchvision
    check_replaceable(out, marker=QUEUE_FILE)
    settings = dataclasses.replace(settings, scale=settings.scale.replace(image_weights=asked))
    with made_folders_removed_if_failed(settings.data_root):  # what a failed pack made of the work folder goes
        _pack(settings, order, plan, out, feature_dtype)
    return out


def _pack(settings: Settings, order: list[str], plan: dict, out: Path, feature_dtype: str) -> None:
    """`pack`'s work, once its arguments are checked: the shared data, the features and the queue."""
    context = Context(settings)
    print(f"reference metrics of the training music: {context.reference}")
    songs = tokenised_songs(context.prepared, settings.scale.max_songs)
    test = context.prepared.pairs_in("test")[: settings.test_pieces]
    images = {pair.image.id: pair.image.path for pair in [*songs.pairs, *test]}  # id -> path, each image once
    image_index = {image: i for i, image in enumerate(images)}
    test_images = sorted({pair.image.id for pair in test})

    entries, features, scalings = [], {}, {}
    for preset in order:
        config = get_preset(preset, scale=settings.scale, fidelity=settings.fidelity, epochs=plan[preset][-1])
        shapes = [batch_shape(len(ids), config.max_len, BUCKET, BUCKET) for _, ids in songs.train + songs.val]
        weights = cnn_weights(config.image_features, settings.scale.image_weights)  # as train_run takes them
        for seed in settings.seeds:
            key = f"{config.image_features.tag}-{weights_tag(weights, seed)}"
            if key not in features:
                raw = extract_features(list(images.values()), config.image_features, weights, seed)  # (I, F)
                train_rows = [image_index[pair.image.id] for pair, _ in songs.train]  # one per training pair
                scalings[key] = feature_scaling(raw[train_rows], weights)  # as train_run standardises
                features[key] = raw if scalings[key] is None else scalings[key].apply(raw)
            va_predictor = context.va_predictor if config.va_loss else None
            info = songs.run_info(run_info(context.prepared, config, seed, weights, va_predictor,
                                           settings.scale.max_songs, backend=settings.backend))
            if scalings[key] is not None:
                info = dataclasses.replace(info, feature_scaling=dataclasses.asdict(scalings[key]))
            entries.append(Entry(preset, seed, config.epochs, plan[preset], tuple(rows_served(preset)), key,
                                 info.to_dict(), config.epochs * sum(rows * length for rows, length in shapes)))

    with replaced_folder(out, marker=QUEUE_FILE) as folder:
        songs.vocabulary.save(folder / VOCABULARY_FILE)
        all_ids = [ids for _, ids in songs.train + songs.val]
        np.savez(folder / SONGS_FILE,
                 ids=np.concatenate([np.asarray(ids, np.int32) for ids in all_ids]),  # (sum of lengths,)
                 offsets=np.cumsum([0] + [len(ids) for ids in all_ids]),  # (N + 1,)
                 images=np.array([image_index[pair.image.id] for pair in songs.pairs], np.int32),  # (N,)
                 music_ids=np.array([pair.music.id for pair in songs.pairs]),  # (N,)
                 n_train=len(songs.train))
        np.savez(folder / FEATURES_FILE, image_ids=np.array(list(images)),
                 **{key: array.astype(feature_dtype) for key, array in features.items()})  # (I, F) each
        if any(entry.run_info["model"]["va_loss"] for entry in entries):
            VAPredictor.load(context.va_predictor).save(folder / VA_PREDICTOR_FOLDER)  # loaded without optimizer
            np.savez(folder / VA_TABLES_FILE, **token_tables(songs.vocabulary))
        write_json(folder / QUEUE_FILE, {
            "format": FORMAT,
            "settings": settings_record(settings),
            "feature_dtype": feature_dtype,
            "test_images": test_images,
            "entries": [dataclasses.asdict(entry) for entry in entries],
        })
        size = _mib(folder)
        if size > PACK_LIMIT_MIB:
            raise UserError(f"the pack would take {size:.1f} MiB, more than the {PACK_LIMIT_MIB} MiB a GPU machine "
                            "takes with the wheels: use --feature-dtype float16")
    print(f"packed {len(entries)} run(s) for the GPU into {out} ({size:.1f} MiB): "
          + ", ".join(f"{e.preset} seed {e.seed} ({e.epochs} epochs)" for e in entries))


def _mib(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 2**20


def download_wheels(out: Path, python_version: str = "3.12", platform: str = "manylinux2014_x86_64") -> list[Path]:
    """The wheels a GPU machine with JAX but no internet lacks to run the queue: this Keras and tqdm with
    their dependencies, less the packages it has (`GPU_HAS`); into `out` (replaced at once)."""
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("keras", "tqdm")]
    with replaced_folder(out, marker="keras-*.whl") as folder:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--implementation",
                   "cp", "--python-version", python_version, "--platform", platform, "--dest", str(folder), *pins]
        found = subprocess.run(command, capture_output=True, text=True)
        if found.returncode != 0:
            raise UserError(f"pip could not download the wheels ({' '.join(pins)}): "
                            f"{found.stderr.strip().splitlines()[-1] if found.stderr.strip() else 'no reason given'}")
        for wheel in folder.glob("*.whl"):
            if wheel.name.split("-")[0].lower() in GPU_HAS:
                wheel.unlink()
        kept = sorted(path.name for path in folder.glob("*.whl"))
    print(f"{len(kept)} wheels ({_mib(out):.1f} MiB) in {out}: {', '.join(kept)}")
    return [out / name for name in kept]


# ---------------------------------------------------------------- merge (CPU)


def merge(results_dir: Path, out: Path | None = None, work: Path | None = None) -> list[dict]:
    """Run folders from the GPU's results (`results_dir`: its folder, or a copy of its results.json), then
    every artefact rendered into `out` (default results/<data>/<scale>/) from the runs present; returns the
    artefacts' results.

    A run the window stopped early is merged too: its history draws a partial curve, and the test tokens of
    the snapshot epochs it reached serve their rows (Table 1 reads epoch 2 of the 15-epoch runs)."""
    path = Path(results_dir) / RESULTS_FILE if Path(results_dir).is_dir() else Path(results_dir)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the GPU's results {path} ({error})") from None
    if not isinstance(results, dict):
        raise UserError(f"{path} is not the GPU's results (a JSON object written by `img2music gpu run`)")
    if results.get("format") != FORMAT:
        raise UserError(f"{path} was written by another version ({results.get('format')}): run the queue again")
    record = results["settings"]
    out = out or results_dir() / record["data"] / record["scale"]["name"]
    settings = settings_from_record(record, out, work)
    vocabulary = Vocabulary(results["vocabulary"])
    for run in results["runs"]:
        run_dir = settings.run_dir(run["preset"], run["seed"])
        if not run["history"]:
            print(f"{run['preset']} seed {run['seed']}: no epoch finished on the GPU ({run['stopped']}), left out")
            continue
        if (run_dir / MODEL_FILE).is_file():
            print(f"{run['preset']} seed {run['seed']}: {run_dir} holds a run trained here, kept")
            continue
        with replaced_folder(run_dir, marker=RUN_CONFIG_FILE) as folder:
            RunInfo.from_dict(run["run_info"]).write(folder)
            vocabulary.save(folder / VOCABULARY_FILE)
            write_history(folder / HISTORY_FILE, run["history"])
            for epoch, tokens in run["tokens"].items():
                write_test_tokens(folder, int(epoch), {image: line.split() for image, line in tokens.items()})
            write_json(folder / TIMINGS_FILE, {**run["timings"], "device": results["environment"]["device"],
                                               "stopped": run["stopped"], "environment": results["environment"]})
        state = "" if run["finished"] else (f", partial: {len(run['history'])} epoch(s), test tokens of epoch(s) "
                                            f"{', '.join(run['tokens']) or 'none'} ({run['stopped']})")
        print(f"{run['preset']} seed {run['seed']}: merged into {run_dir}{state}")
    for entry in results["not_started"]:
        print(f"{entry['preset']} seed {entry['seed']}: not started on the GPU ({entry['reason']})")
    return [run_artefact(artefact, settings) for artefact in ARTEFACTS.values()]
