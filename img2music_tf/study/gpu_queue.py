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

import contextlib
import dataclasses
import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from img2music_tf.batches import BUCKET, batch_shape
from img2music_tf.errors import UserError
from img2music_tf.experiments import (ARTEFACTS, FEATURE_DTYPES, KEEP_WEIGHTS, PACK_LIMIT_MIB, RESULTS_FILE, QueuePart,
                                      Scale, queue_order, rows_served, training_plan)
from img2music_tf.files import (check_replaceable, made_folders_removed_if_failed, replaced_folder, write_json,
                                write_text)
from img2music_tf.losses import token_tables
from img2music_tf.models.image_encoder import check_weights, extract_features, weights_tag
from img2music_tf.models.va_predictor import VAPredictor
from img2music_tf.paths import project_dir, results_dir, shown
from img2music_tf.presets import get_preset
from img2music_tf.run_folder import (HISTORY_FILE, MODEL_FILE, RUN_CONFIG_FILE, TIMINGS_FILE, VOCABULARY_FILE, RunInfo,
                                     read_timings, save_model, write_history, write_test_tokens)
from img2music_tf.study.artefacts import Context, Settings, run_artefact
from img2music_tf.study.gpu_pack import (FEATURES_FILE, FORMAT, QUEUE_FILE, SONGS_FILE, VA_TABLES_FILE, Entry,
                                         from_bf16)
from img2music_tf.study.gpu_window import window_report
from img2music_tf.training_run import cnn_weights, feature_scaling, run_info, tokenised_songs
from img2music_tf.vocabulary import Vocabulary

FORMAT_1 = "img2music_tf.gpu_queue/1"  # results of the first window (one part), still merged (`upgraded`)
WINDOW_REPORT = "gpu_window.md"  # what the merge writes into the results folder beside the artefacts' folders
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


def part_settings(base: Settings, part: QueuePart) -> Settings:
    """The reproduction settings of one part of a queue: `base` in the part's data regime and fidelity."""
    return dataclasses.replace(base, data=part.data, fidelity=part.fidelity, seeds=part.seeds,
                               scale=base.scale.replace(epochs=part.epochs))


def part_name(settings: Settings) -> str:
    """A part's name in the pack and the GPU's results: its data regime and fidelity, e.g. `authors-paper`."""
    return f"{settings.data}-{settings.fidelity}"


def queue_entries(parts: Sequence[QueuePart]) -> list[tuple[int, str, int]]:
    """(part index, trained preset, seed) of every training the parts ask for, in order of value: parts alike
    but for their data regime form one tier, taken in turn (both regimes' runs come before either regime's
    extra seeds); within a tier, seed by seed, the runs serving the most rows first (`queue_order`)."""
    def tier(index: int) -> int:
        alike = dataclasses.replace(parts[index], data="")
        return next(i for i, part in enumerate(parts) if dataclasses.replace(part, data="") == alike)

    triples = [(index, preset, seed) for index, part in enumerate(parts) for preset in queue_order(part.plan())
               for seed in part.seeds]
    return sorted(triples, key=lambda t: (tier(t[0]), t[2], -len(rows_served(t[1])), t[0]))


def pack(base: Settings, parts: Sequence[QueuePart], out: Path, feature_dtype: str = "float32") -> Path:
    """Everything the GPU needs but cannot make for the runs of `parts`, and the queue, into the folder `out`
    (replaced at once)."""
    if feature_dtype not in FEATURE_DTYPES:
        raise UserError(f"feature dtype must be one of {', '.join(FEATURE_DTYPES)}, got {feature_dtype!r}")
    if base.backend != "jax":
        raise UserError(f"the GPU queue trains under JAX, not {base.backend}")
    for part in parts:
        plan = training_plan(part.epochs, part.artefacts)
        unknown = sorted(set(part.presets or ()) - set(plan))
        if unknown:
            raise UserError(f"{', '.join(unknown)} is not trained by any artefact; choose from {', '.join(plan)}")
    each = [part_settings(base, part) for part in parts]
    names = [part_name(settings) for settings in each]  # part index -> its group's name
    groups: dict[str, Settings] = {}  # group name -> its settings, with the seeds of all its parts
    for name, settings in zip(names, each):
        known = groups.setdefault(name, settings)
        if known.scale != settings.scale:
            raise ValueError(f"the parts of {name} differ in their epochs")
        groups[name] = dataclasses.replace(known, seeds=tuple(sorted({*known.seeds, *settings.seeds})))
    specs = set().union(*(settings.feature_specs(part.plan()) for settings, part in zip(each, parts)))
    asked = check_weights(specs, base.scale.image_weights)  # offline: torchvision
    groups = {name: dataclasses.replace(settings, scale=settings.scale.replace(image_weights=asked))
              for name, settings in groups.items()}
    check_replaceable(out, marker=QUEUE_FILE)
    with contextlib.ExitStack() as stack:  # what a failed pack made of the work folder goes
        for settings in groups.values():
            stack.enter_context(made_folders_removed_if_failed(settings.data_root))
        _pack(groups, parts, names, out, feature_dtype)
    return out


class _Regime:
    """What the pack holds of one data regime: songs, test pairs, the images' features and their scalings."""

    def __init__(self, context: Context):
        settings = context.settings
        self.songs = tokenised_songs(context.prepared, settings.scale.max_songs)
        self.test = context.prepared.pairs_in("test")[: settings.test_pieces]
        images = {pair.image.id: pair.image.path for pair in [*self.songs.pairs, *self.test]}  # each image once
        self.image_paths = list(images.values())
        self.image_index = {image: i for i, image in enumerate(images)}
        self.features: dict[str, np.ndarray] = {}
        self.scalings: dict = {}
        self.va_predictors: dict[Path, str] = {}  # source folder -> folder in the pack

    def features_key(self, config, weights: str, seed: int) -> str:
        """The key of `config`'s image features (extracted and standardised as train_run does, once)."""
        key = f"{config.image_features.tag}-{weights_tag(weights, seed)}"
        if key not in self.features:
            raw = extract_features(self.image_paths, config.image_features, weights, seed)  # (I, F)
            train_rows = [self.image_index[pair.image.id] for pair, _ in self.songs.train]  # one per training pair
            self.scalings[key] = feature_scaling(raw[train_rows], weights)
            self.features[key] = raw if self.scalings[key] is None else self.scalings[key].apply(raw)
        return key


def _pack(groups: dict[str, Settings], parts: Sequence[QueuePart], names: list[str], out: Path,
          feature_dtype: str) -> None:
    """`pack`'s work, once its arguments are checked: each regime's data, the features and the queue
    (`names`: each part's group)."""
    contexts = {name: Context(settings) for name, settings in groups.items()}
    regimes: dict[str, _Regime] = {}
    for name, context in contexts.items():
        if context.settings.data not in regimes:
            print(f"{context.settings.data}: reference metrics of the training music: {context.reference}")
            regimes[context.settings.data] = _Regime(context)
    entries = []
    for index, preset, seed in queue_entries(parts):
        name = names[index]
        settings, context = groups[name], contexts[name]
        plan = parts[index].plan(settings.scale.epochs)
        regime = regimes[settings.data]
        config = get_preset(preset, scale=settings.scale, fidelity=settings.fidelity, epochs=plan[preset][-1])
        shapes = [batch_shape(len(ids), config.max_len, BUCKET, BUCKET)
                  for _, ids in regime.songs.train + regime.songs.val]
        weights = cnn_weights(config.image_features, settings.scale.image_weights)  # as train_run takes them
        key = regime.features_key(config, weights, seed)
        va_predictor = context.va_predictor if config.va_loss else None
        info = regime.songs.run_info(run_info(context.prepared, config, seed, weights, va_predictor,
                                              settings.scale.max_songs, backend=settings.backend))
        if regime.scalings[key] is not None:
            info = dataclasses.replace(info, feature_scaling=dataclasses.asdict(regime.scalings[key]))
        packed_predictor = None
        if va_predictor is not None:
            packed_predictor = regime.va_predictors.setdefault(
                va_predictor, f"{settings.data}/va_predictor-{len(regime.va_predictors)}")
        entries.append(Entry(name, preset, seed, config.epochs, plan[preset], tuple(rows_served(preset)), key,
                             info.to_dict(), config.epochs * sum(rows * length for rows, length in shapes),
                             packed_predictor, (settings.data, settings.fidelity, preset, seed) in KEEP_WEIGHTS))

    with replaced_folder(out, marker=QUEUE_FILE) as folder:
        for data, regime in regimes.items():
            _write_regime(folder / data, regime, feature_dtype)
        write_json(folder / QUEUE_FILE, {
            "format": FORMAT,
            "feature_dtype": feature_dtype,
            "parts": {name: {"settings": settings_record(settings),
                             "artefacts": _artefact_seeds([p for n, p in zip(names, parts) if n == name]),
                             "test_images": sorted({pair.image.id for pair in regimes[settings.data].test})}
                      for name, settings in groups.items() if any(entry.part == name for entry in entries)},
            "entries": [dataclasses.asdict(entry) for entry in entries],
        })
        size = _mib(folder)
        if size > PACK_LIMIT_MIB:
            raise UserError(f"the pack would take {size:.1f} MiB, more than the {PACK_LIMIT_MIB} MiB a GPU machine "
                            "takes beside the repository and the wheels: use --feature-dtype float16, or queue fewer runs")
    print(f"packed {len(entries)} run(s) for the GPU into {out} ({size:.1f} MiB): "
          + ", ".join(f"{e.part} {e.preset} seed {e.seed} ({e.epochs} epochs)" for e in entries))


def _artefact_seeds(parts: Sequence[QueuePart]) -> dict[str, list[int]]:
    """Each artefact the parts name -> the seeds its rows are rendered over after the merge."""
    seeds: dict[str, set[int]] = {}
    for part in parts:
        for artefact in part.artefacts:
            seeds.setdefault(artefact, set()).update(part.seeds)
    return {artefact: sorted(values) for artefact, values in seeds.items()}


def _write_regime(folder: Path, regime: _Regime, feature_dtype: str) -> None:
    """One data regime's folder of the pack: vocabulary, songs as ids, image features, VA predictors, tables."""
    folder.mkdir()
    songs = regime.songs
    songs.vocabulary.save(folder / VOCABULARY_FILE)
    all_ids = [ids for _, ids in songs.train + songs.val]
    np.savez(folder / SONGS_FILE,
             ids=np.concatenate([np.asarray(ids, np.int32) for ids in all_ids]),  # (sum of lengths,)
             offsets=np.cumsum([0] + [len(ids) for ids in all_ids]),  # (N + 1,)
             images=np.array([regime.image_index[pair.image.id] for pair in songs.pairs], np.int32),  # (N,)
             music_ids=np.array([pair.music.id for pair in songs.pairs]),  # (N,)
             n_train=len(songs.train))
    np.savez(folder / FEATURES_FILE, image_ids=np.array(list(regime.image_index)),
             **{key: array.astype(feature_dtype) for key, array in regime.features.items()})  # (I, F) each
    for source, packed in regime.va_predictors.items():
        VAPredictor.load(source).save(folder.parent / packed)  # loaded without optimizer
    if regime.va_predictors:
        np.savez(folder / VA_TABLES_FILE, **token_tables(songs.vocabulary))


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


def merge(results: Path, out: Path | None = None, work: Path | None = None) -> list[dict]:
    """Run folders from the GPU's results (`results`: its folder, or a copy of its results.json), then each
    part's artefacts rendered into `out`/<data>/<scale>[-<fidelity>] (default `out`: results/) from the runs
    present, over the seeds its parts asked for, and what the window measured (`gpu_window`) into
    `out`/gpu_window.md; returns the artefacts' results.

    A run the window stopped early is merged too: its history draws a partial curve, and the test tokens of
    the snapshot epochs it reached serve their rows (Table 1 reads epoch 2 of the 15-epoch runs). Weights
    that came back (`gpu_pack.Entry.keep_weights`) become the run's model.keras, so that it can generate."""
    folder = Path(results) if Path(results).is_dir() else Path(results).parent
    path = folder / RESULTS_FILE if Path(results).is_dir() else Path(results)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the GPU's results {path} ({error})") from None
    if not isinstance(record, dict):
        raise UserError(f"{path} is not the GPU's results (a JSON object written by `img2music gpu run`)")
    if record.get("format") == FORMAT_1:
        record = upgraded(record)
    if record.get("format") != FORMAT:
        raise UserError(f"{path} was written by another version ({record.get('format')}): run the queue again")
    root = Path(out) if out else results_dir()
    parts = {name: settings_from_record(part["settings"], root / _artefact_folder(part["settings"]), work)
             for name, part in record["parts"].items()}
    for run in record["runs"]:
        _merge_run(run, parts[run["part"]], Vocabulary(record["vocabularies"][parts[run["part"]].data]),
                   record["environment"], folder)
    for entry in record["not_started"]:
        print(f"{entry['part']} {entry['preset']} seed {entry['seed']}: not started on the GPU ({entry['reason']})")
    print(f"wrote {write_text(root / WINDOW_REPORT, window_report(record))}")
    return [run_artefact(ARTEFACTS[artefact], dataclasses.replace(settings, seeds=tuple(seeds)))
            for name, settings in parts.items() for artefact, seeds in record["parts"][name]["artefacts"].items()]


def upgraded(record: dict) -> dict:
    """Results of the first format (one part: a single data regime and fidelity, every artefact, as the
    window of 2026-12-01 wrote them) in the current one."""
    settings = record["settings"]
    name = f"{settings['data']}-{settings['fidelity']}"
    return {**record, "format": FORMAT,
            "parts": {name: {"settings": settings, "artefacts": {a: settings["seeds"] for a in ARTEFACTS}}},
            "vocabularies": {settings["data"]: record["vocabulary"]},
            "runs": [{**run, "part": name} for run in record["runs"]],
            "not_started": [{**entry, "part": name} for entry in record["not_started"]]}


def _artefact_folder(record: dict) -> Path:
    """Where a part's artefacts go under the results folder: <data>/<scale>, or <data>/<scale>-<fidelity> for
    another fidelity than the paper's."""
    scale = record["scale"]["name"] + ("" if record["fidelity"] == "paper" else f"-{record['fidelity']}")
    return Path(record["data"]) / scale


def _merge_run(run: dict, settings: Settings, vocabulary: Vocabulary, environment: dict, folder: Path) -> None:
    """Write one run of the GPU's results as a run folder (and its weights as model.keras, when they came back)."""
    name = f"{run['part']} {run['preset']} seed {run['seed']}"
    run_dir = settings.run_dir(run["preset"], run["seed"])
    if not run["history"]:
        print(f"{name}: no epoch finished on the GPU ({run['stopped']}), left out")
        return
    if (run_dir / MODEL_FILE).is_file() and read_timings(run_dir) is None:
        print(f"{name}: {run_dir} holds a run trained here, kept")
        return
    weights = folder / run["weights"] if run.get("weights") else None
    with replaced_folder(run_dir, marker=RUN_CONFIG_FILE) as staged:
        info = RunInfo.from_dict(run["run_info"])
        info.write(staged)
        vocabulary.save(staged / VOCABULARY_FILE)
        write_history(staged / HISTORY_FILE, run["history"])
        for epoch, tokens in run["tokens"].items():
            write_test_tokens(staged, int(epoch), {image: line.split() for image, line in tokens.items()})
        write_json(staged / TIMINGS_FILE, {**run["timings"], "device": environment["device"],
                                           "stopped": run["stopped"], "environment": environment})
        if weights is not None:
            save_model(net_from_bf16(info.model, weights), staged / MODEL_FILE)
    state = "" if run["finished"] else (f", partial: {len(run['history'])} epoch(s), test tokens of epoch(s) "
                                        f"{', '.join(run['tokens']) or 'none'} ({run['stopped']})")
    print(f"{name}: merged into {run_dir}{state}" + (f", with its weights ({weights.name})" if weights else ""))


def net_from_bf16(config, path: Path):
    """The net of `config` with the bf16 weights the GPU brought back (`gpu_pack.to_bf16`, in the net's
    weight order)."""
    from img2music_tf.models.img2music import build_model

    try:
        with np.load(path) as arrays:
            weights = [from_bf16(arrays[f"w{i}"]) for i in range(len(arrays.files))]
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"cannot read the weights {path} ({error}); fetch the GPU's output again") from None
    net = build_model(config)
    if [w.shape for w in net.get_weights()] != [w.shape for w in weights]:
        raise UserError(f"{path} does not hold the weights of {config.name}: run the queue again")
    net.set_weights(weights)
    return net
