"""Does a VA term, or conditioning on VA, make the music match the picture's emotion? Measured by a held-out
judge (not in the paper).

The paper's VA term goes through an argmax, so it never changes the weights (`experiments.SAME_WEIGHTS`):
its claim that the music matches the image's emotion is untested by the method. This measurement trains,
for every data regime and seed, the model without a VA term (whose weights are the paper's term's, so it is
trained once) and the differentiable term (`losses.SoftVALoss`) at several weights lambda; decodes the
test images greedily (the paper's method) and by seeded top-k sampling (the shipped model's,
`pretrained.DEFAULT_GENERATION`); and rates every piece with a JUDGE: a music VA predictor trained on
another split of the music and from another seed than the predictor inside the loss, so the loss does not
grade its own homework. Beside the VA terms it trains the VA-conditioned presets (`conditioning`): trained on
each song's own VA label, they decode every test image conditioned on that image's rated VA.

Reported per model and decoding: the emotion distance mean |VA(image) - VA(music)| (1-9 scale; the mean of
valence and arousal) with a 95% bootstrap interval over images (seeds pooled) and a t interval across seed
means, its paired difference to the model without a VA term, how music VA tracks image VA (Pearson r per
dimension), the distance of each picture to the music of the OTHER pictures (same model and seed: does the
music follow its own picture more than any picture?), the three quality metrics and Music_Quality_Loss, pieces with notes and distinct pieces. The
paired test music, rated by the same judge, is the reachable floor. Cost: seconds per training epoch with
the term over without, same process, same songs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from img2music_tf import metrics, tokens
from img2music_tf.data.pairing import split_ids
from img2music_tf.decode import GenerationConfig, generate_tokens
from img2music_tf.environment import environment
from img2music_tf.experiments import SCALES, Scale, trained_preset
from img2music_tf.files import atomic_path
from img2music_tf.memorisation import SongIndex
from img2music_tf.models.va_predictor import VAPredictor
from img2music_tf.paths import shown
from img2music_tf.presets import FIDELITIES, get_preset
from img2music_tf.pretrained import DEFAULT_GENERATION
from img2music_tf.run_folder import HISTORY_FILE, load_run, read_history
from img2music_tf.study import pipeline
from img2music_tf.study.artefacts import Context, Settings
from img2music_tf.study.report import image_weights_note

BASELINE = "Trans_enc3_dec3"  # no VA term; its weights are the paper's term's (experiments.SAME_WEIGHTS)
SOFT = "Trans_enc3_dec3_VA_Soft"  # the differentiable term (losses.SoftVALoss)
CONDITIONED = ("Trans_enc3_dec3_VA_Cond", "Trans_enc3_dec3_VA_Cond_NoImage")  # conditioned on VA (`conditioning`)
LABELS = {BASELINE: "none = paper's term", CONDITIONED[0]: "VA-conditioned + image",
          CONDITIONED[1]: "VA-conditioned, no image"}
DECODINGS = {"greedy": {"method": "greedy"}, "top-10 sampling": {**DEFAULT_GENERATION, "tries": 1}}
"""How the test images are decoded: the paper's greedy decoding (which collapses at CPU scale) and the shipped
model's seeded top-10 sampling, one try per piece (without its length rule, which re-samples a short piece:
here a piece without notes is counted as such)."""


@dataclass(frozen=True)
class Model:
    """One model of the comparison: a preset and, for the differentiable term, its weight lambda."""

    preset: str
    lambda_va: float | None = None  # None: the preset's own

    @property
    def key(self) -> str:
        """The run folder's and the results' name of the model."""
        return self.preset if self.lambda_va is None else f"{self.preset}-lambda{self.lambda_va:g}"

    @property
    def label(self) -> str:
        """Short name in tables and plots."""
        return LABELS[self.preset] if self.lambda_va is None else f"soft, lambda {self.lambda_va:g}"

    def config(self, scale: Scale):
        """The model's `presets.ModelConfig` at `scale`, trained for the scale's epochs (if it sets them)."""
        overrides = {"epochs": scale.epochs, "lambda_va": self.lambda_va}
        return get_preset(self.preset, scale=scale, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Measurement:
    """What is measured: sizes, data regimes, seeds, models, the judge's seed and the intervals."""

    scale: str = "align"
    data: tuple[str, ...] = ("authors", "eimg")
    seeds: tuple[int, ...] = (0, 1, 2)
    models: tuple[Model, ...] = (Model(BASELINE), Model(SOFT, 0.1), Model(SOFT, 1.0), Model(SOFT, 10.0),
                                 *(Model(preset) for preset in CONDITIONED))
    judge_seed: int = 1  # the judge's split and initialisation; the loss's predictor uses the prepared split, seed 0
    n_boot: int = 2000
    confidence: float = 0.95

    def __post_init__(self):
        if self.models[0].preset != BASELINE:
            raise ValueError(f"the first model is the comparison's baseline, {BASELINE}")


# ---------------------------------------------------------------- statistics


def bootstrap_ci(values: np.ndarray, confidence: float, n_boot: int, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean of `values` (S, I) (seeds x images; NaN skipped), resampling images."""
    values = np.asarray(values, float).reshape(-1, np.shape(values)[-1])  # (S, I)
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, values.shape[1], size=(n_boot, values.shape[1]))  # (n_boot, I)
    means = np.array([np.nanmean(values[:, chosen]) for chosen in columns])  # (n_boot,)
    low, high = np.nanquantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def correlation_ci(x: np.ndarray, y: np.ndarray, confidence: float, n_boot: int,
                   seed: int = 0) -> tuple[float, float, float]:
    """Pearson r of (S, I) arrays pooled over seeds and images (NaN pairs skipped), with a percentile
    interval resampling images: (r, low, high); NaN where r is undefined (a constant side)."""
    def r_of(columns) -> float:
        a, b = x[:, columns].ravel(), y[:, columns].ravel()
        kept = ~(np.isnan(a) | np.isnan(b))
        a, b = a[kept], b[kept]
        if len(a) < 3 or a.std() == 0 or b.std() == 0:
            return math.nan
        return float(np.corrcoef(a, b)[0, 1])

    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))  # (S, I)
    rng = np.random.default_rng(seed)
    rs = np.array([r_of(rng.integers(0, x.shape[1], x.shape[1])) for _ in range(n_boot)])  # (n_boot,)
    rs = rs[~np.isnan(rs)]
    low, high = np.quantile(rs, [(1 - confidence) / 2, (1 + confidence) / 2]) if rs.size else (math.nan, math.nan)
    return r_of(np.arange(x.shape[1])), float(low), float(high)


def distances(image_va: np.ndarray, music_va: np.ndarray) -> np.ndarray:
    """|VA(image) - VA(music)| averaged over valence and arousal: (..., 2) -> (...); NaN where music VA is."""
    return np.abs(np.asarray(image_va, float) - np.asarray(music_va, float)).mean(axis=-1)


def distances_to_others(image_va: np.ndarray, music_va: np.ndarray) -> np.ndarray:
    """Per seed and image, the mean distance of image i's VA (I, 2) to the music made for every OTHER image of
    the same seed (S, I, 2): (S, I); NaN where no other piece is rated."""
    image_va, music_va = np.asarray(image_va, float), np.asarray(music_va, float)
    pairwise = distances(image_va[None, :, None, :], music_va[:, None, :, :])  # (S, I, J): image i, music j
    pairwise[:, np.arange(len(image_va)), np.arange(len(image_va))] = np.nan
    with np.errstate(all="ignore"):
        return np.nanmean(pairwise, axis=2)  # (S, I)


def alignment_summary(image_va: np.ndarray, music_va: np.ndarray, measurement: Measurement,
                      baseline: np.ndarray | None = None) -> dict:
    """Emotion alignment of music rated (S, I, 2) for images (I, 2): the mean distance with its bootstrap
    interval over images and its t interval across seed means, per dimension too, Pearson r per dimension,
    the distance of each image to the other images' music and the paired difference own - others (below 0:
    the music follows its own picture), and, given the baseline's distances (S, I), the paired difference
    to it with its bootstrap interval."""
    image_va = np.broadcast_to(np.asarray(image_va, float), np.shape(music_va))  # (S, I, 2)
    distance = distances(image_va, music_va)  # (S, I)
    ci = dict(confidence=measurement.confidence, n_boot=measurement.n_boot)
    summary = {
        "distance": float(np.nanmean(distance)),
        "distance_ci": list(bootstrap_ci(distance, **ci)),
        "distance_across_seeds": list(metrics.mean_ci(np.nanmean(distance, axis=1), measurement.confidence)),
        "rated": int(np.sum(~np.isnan(distance))),
    }
    others = distances_to_others(image_va[0], music_va)  # (S, I)
    summary["distance_to_others"] = float(np.nanmean(others))
    summary["own_minus_others"] = float(np.nanmean(distance - others))
    summary["own_minus_others_ci"] = list(bootstrap_ci(distance - others, **ci))
    for index, dimension in enumerate(("valence", "arousal")):
        error = np.abs(image_va[..., index] - music_va[..., index])  # (S, I)
        summary[f"{dimension}_distance"] = float(np.nanmean(error))
        r, low, high = correlation_ci(image_va[..., index], np.asarray(music_va, float)[..., index], **ci)
        summary[f"{dimension}_r"] = r
        summary[f"{dimension}_r_ci"] = [low, high]
    if baseline is not None:
        difference = distance - baseline  # (S, I): paired by seed and image
        summary["difference_to_baseline"] = float(np.nanmean(difference))
        summary["difference_to_baseline_ci"] = list(bootstrap_ci(difference, **ci))
    return summary


def quality_summary(pieces: list[list[dict]], reference, confidence: float) -> dict:
    """The quality of pieces (seeds x images, each with "metrics", "notes", "tokens_sha", "memorisation"),
    seeds pooled: the three metrics and Music_Quality_Loss (the paper's reference, and our training
    music's), pieces with notes, copies of a training song (`memorisation`), and distinct pieces per seed."""
    pooled = [piece for seed in pieces for piece in seed]
    table = np.array([[piece["metrics"][name] for name in metrics.METRIC_NAMES] for piece in pooled])  # (S*I, 3)
    row = metrics.summarize(table, metrics.PAPER_REFERENCE, confidence)
    means = [row[name]["mean"] for name in metrics.METRIC_NAMES]
    return {
        **{name: row[name]["mean"] for name in metrics.METRIC_NAMES},
        "music_quality_loss": row["music_quality_loss"],
        "music_quality_loss_ci": row["music_quality_loss_ci"],
        "music_quality_loss_training_reference": metrics.music_quality_loss(means, reference),
        "with_notes": float(np.mean([piece["notes"] > 0 for piece in pooled])),
        "copies": sum(piece["memorisation"]["copied"] for piece in pooled),
        "pieces": len(pooled),
        "distinct_pieces": [len({piece["tokens_sha"] for piece in seed}) for seed in pieces],
    }


# ---------------------------------------------------------------- the measurement


def train_judge(prepared, out: Path, scale: Scale, batchnorm: bool, seed: int) -> Path:
    """The judge: a music VA predictor trained on a split of the music drawn with `seed` (the loss's predictor
    uses the prepared split) and initialised from `seed`; reused when `out` holds one."""
    split = split_ids([item.id for item in prepared.music], seed, scale.n_test, scale.n_val)
    return pipeline.train_va_predictor(prepared, out, scale, batchnorm, seed=seed, split=split)


def rate(sequences: list[list[str]], folder: Path, judge, songs) -> list[dict]:
    """Each token sequence -> MIDI file in `folder` -> notes, quality metrics, the judge's (valence, arousal)
    (NaN for a piece without notes: it has no emotion to rate), and its longest run shared with a training
    song (`songs`: a `memorisation.SongIndex`)."""
    pieces = []
    for index, sequence in enumerate(sequences):
        midi = tokens.write_midi(sequence, folder / f"{index:03d}.mid")
        notes = len(tokens.tokens_to_notes(sequence))
        va = judge.predict_midi([midi])[0] if notes else (math.nan, math.nan)  # (2,)
        pieces.append({
            "notes": notes,
            "tokens_sha": hashlib.sha256(" ".join(sequence).encode()).hexdigest()[:16],
            "music_va": [float(v) for v in va],
            "metrics": metrics.quality_metrics(metrics.read_music(midi)),
            "memorisation": songs.longest_run(sequence).to_dict(),
        })
    return pieces


def decode_run(run_dir: Path, image_paths: list[Path], image_va: np.ndarray,
               decodings: dict) -> dict[str, list[list[str]]]:
    """{decoding: one token sequence per image} of the run's net; a VA-conditioned net expresses each image's
    rated VA (I, 2)."""
    run = load_run(run_dir)
    inputs = run.net_inputs(image_paths, image_va, progress=False)  # (I, F) or (I, F + 2)
    return {name: generate_tokens(run.model, inputs, run.vocabulary,
                                  GenerationConfig(**{**generation, "max_len": run.config.max_len}), progress=False)
            for name, generation in decodings.items()}


def epoch_seconds(run_dir: Path) -> list[float]:
    """Seconds of each training epoch of a run folder's history after the first (which compiles), if any."""
    seconds = [row["seconds"] for row in read_history(run_dir / HISTORY_FILE)]
    return seconds[1:] or seconds


def regime_context(data: str, measurement: Measurement, work: Path) -> tuple[Context, Path]:
    """The prepared data, loss predictor and reference of one data regime in `work`, and its judge's folder
    (each made once, then reused)."""
    scale = SCALES[measurement.scale]
    context = Context(Settings(scale=scale, seeds=measurement.seeds, data=data, out=work, work=work,
                               fidelity="paper"))
    judge_dir = train_judge(context.prepared, context.settings.data_root / f"judge-seed{measurement.judge_seed}",
                            scale, FIDELITIES["paper"].va_batchnorm, measurement.judge_seed)
    return context, judge_dir


def run_folder(context: Context, model: Model, seed: int) -> Path:
    """Where the measurement trains `model` from `seed`."""
    return context.settings.data_root / "runs" / context.settings.scale.name / f"{model.key}_seed{seed}"


def measure_regime(data: str, measurement: Measurement, work: Path) -> dict:
    """Train, decode and judge every model and seed on one data regime; the regime's part of the result."""
    scale = SCALES[measurement.scale]
    context, judge_dir = regime_context(data, measurement, work)
    prepared = context.prepared
    judge = VAPredictor.load(judge_dir)
    songs = SongIndex(pipeline.trained_songs(prepared, scale.max_songs))  # what every run trained on
    test = prepared.pairs_in("test")
    images = dict(sorted({pair.image.id: pair.image for pair in test}.items()))
    image_va = np.array([[image.valence, image.arousal] for image in images.values()])  # (I, 2)

    paired_va = judge.predict_midi(pair.music.path for pair in test)  # (P, 2)
    pair_image_va = np.array([[pair.image.valence, pair.image.arousal] for pair in test])  # (P, 2)
    pair_label_va = np.array([[pair.music.valence, pair.music.arousal] for pair in test])  # (P, 2)
    loss_predictor_va = VAPredictor.load(context.va_predictor).predict_midi(pair.music.path for pair in test)  # (P, 2)
    floor = {
        "judge": alignment_summary(pair_image_va, paired_va[None], measurement),
        "labels": alignment_summary(pair_image_va, pair_label_va[None], measurement),
        "judge_vs_loss_predictor": float(np.abs(paired_va - loss_predictor_va).mean()),
    }

    runs = {model.key: [] for model in measurement.models}
    for seed in measurement.seeds:  # the models of one seed one after another: machine load drifts alike for all
        for model in measurement.models:
            run_dir = run_folder(context, model, seed)
            began = time.perf_counter()
            pipeline.train_model(prepared, model.config(scale), run_dir, seed=seed, image_weights=scale.image_weights,
                                 va_predictor=context.va_predictor, max_songs=scale.max_songs, existing="reuse",
                                 verbose=0)
            history = read_history(run_dir / HISTORY_FILE)
            sequences = decode_run(run_dir, [image.path for image in images.values()], image_va, DECODINGS)
            runs[model.key].append({
                "seed": seed,
                "run": shown(run_dir),
                "epoch_seconds": epoch_seconds(run_dir),
                "cross_entropy": history[-1]["cross_entropy"],
                "val_cross_entropy": history[-1]["val_cross_entropy"],
                "pieces": {name: rate(found, run_dir / "alignment" / name.replace(" ", "-"), judge, songs)
                           for name, found in sequences.items()},
            })
            print(f"{data} {model.key} seed {seed}: {time.perf_counter() - began:.0f} s", flush=True)

    def music_va(key: str, name: str) -> np.ndarray:  # (S, I, 2)
        return np.array([[piece["music_va"] for piece in run["pieces"][name]] for run in runs[key]])

    baseline = measurement.models[0].key
    models = {}
    for model in measurement.models:
        decodings = {}
        for name in DECODINGS:
            reference = None if model.key == baseline else distances(image_va, music_va(baseline, name))  # (S, I)
            decodings[name] = {
                "alignment": alignment_summary(image_va, music_va(model.key, name), measurement, reference),
                "quality": quality_summary([run["pieces"][name] for run in runs[model.key]], context.reference,
                                           measurement.confidence),
            }
        models[model.key] = {"label": model.label, "preset": model.preset, "lambda_va": model.lambda_va,
                             "config": model.config(scale).to_dict(), "decodings": decodings,
                             "runs": runs[model.key]}
    return {
        "data": context.data_record(),
        "loss_va_predictor": shown(context.va_predictor),
        "judge": shown(judge_dir),
        "image_va": image_va.tolist(),
        "image_ids": list(images),
        "floor": floor,
        "models": models,
        "cost": cost(models, measurement),
    }


def cost(models: dict, measurement: Measurement) -> dict:
    """Per model: the median over seeds and epochs (after the first) of its epoch seconds over the baseline's
    (same seed, same epoch, same songs, same process)."""
    baseline = models[measurement.models[0].key]["runs"]
    ratios = {}
    for key, model in models.items():
        pairs = [mine / theirs for run, base in zip(model["runs"], baseline)
                 for mine, theirs in zip(run["epoch_seconds"], base["epoch_seconds"]) if theirs]
        ratios[key] = {"ratio_median": float(np.median(pairs)) if pairs else math.nan,
                       "epoch_seconds_median": float(np.median([s for run in model["runs"]
                                                               for s in run["epoch_seconds"]] or [math.nan]))}
    return ratios


def measure(measurement: Measurement, work: Path) -> dict:
    """The whole measurement: every data regime; JSON-ready."""
    started = time.perf_counter()
    regimes = {data: measure_regime(data, measurement, Path(work)) for data in measurement.data}
    return {
        "settings": {**dataclasses.asdict(measurement), "scale_sizes": dataclasses.asdict(SCALES[measurement.scale]),
                     "decodings": DECODINGS},
        "environment": environment(),
        "regimes": regimes,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


# ---------------------------------------------------------------- the report


def _interval(values) -> str:
    return "n/a" if any(v is None or math.isnan(v) for v in values) else f"[{values[0]:.2f}, {values[1]:.2f}]"


def verdicts(result: dict) -> list[str]:
    """One sentence per regime, decoding and VA-term model: is its distance below the baseline's beyond the
    paired bootstrap interval of the difference, and what happens to Music_Quality_Loss."""
    lines = []
    for data, regime in result["regimes"].items():
        models = list(regime["models"].values())
        for name in DECODINGS:
            base = models[0]["decodings"][name]
            for model in models[1:]:
                row = model["decodings"][name]
                low, high = row["alignment"]["difference_to_baseline_ci"]
                verdict = ("not comparable: no image has rated pieces from both" if math.isnan(low) else
                           "closer than without the term, beyond the interval" if high < 0 else
                           "farther than without the term, beyond the interval" if low > 0 else
                           "no difference beyond the interval")
                a = row["alignment"]
                own_low, own_high = a["own_minus_others_ci"]
                follows = ("its own picture's VA more than other pictures'" if own_high < 0 else
                           "other pictures' VA more than its own" if own_low > 0 else
                           "its own picture no more than the others")
                goal = "met" if min(a["valence_r"], a["arousal_r"]) >= 0.3 else "not met"
                lines.append(
                    f"- {data}, {name}, {model['label']}: distance "
                    f"{a['difference_to_baseline']:+.3f} {_interval((low, high))} vs no term: "
                    f"{verdict}; own - other pictures' music {a['own_minus_others']:+.3f} "
                    f"{_interval((own_low, own_high))}: the music follows {follows}; r valence {a['valence_r']:.2f}, "
                    f"r arousal {a['arousal_r']:.2f} (goal r >= 0.3 on both: {goal}); Music_Quality_Loss "
                    f"{base['quality']['music_quality_loss']:.3f} -> {row['quality']['music_quality_loss']:.3f}, "
                    f"pieces with notes {base['quality']['with_notes']:.0%} -> {row['quality']['with_notes']:.0%}."
                )
    return lines


def markdown(result: dict, command: str) -> str:
    """results/va_alignment.md from the measurement's result."""
    settings = result["settings"]
    sizes = settings["scale_sizes"]
    lines = [
        "# Emotion alignment: does a VA term make the music match the picture? (not in the paper)",
        "",
        f"Trans_enc3_dec3 at scale `{settings['scale']}` (embedding {sizes['embed_dim']}, {sizes['max_len']} "
        f"tokens, the first {sizes['max_songs'] or 'all'} training pairs, {sizes['epochs']} epochs, learning rate "
        f"{sizes['learning_rate']:g}), seeds {', '.join(map(str, settings['seeds']))}, in the data regimes "
        f"{', '.join(settings['data'])}. Models: without a VA term, which is also the paper's "
        f"VA term (`{trained_preset(BASELINE)}`: its argmax has no gradient, so the weights are bit-identical, "
        "`experiments.SAME_WEIGHTS`; trained once), and the "
        "differentiable term (`losses.SoftVALoss`, target: the paired music's VA) at lambda "
        f"{', '.join(format(model['lambda_va'], 'g') for model in settings['models'] if model['lambda_va'])}; "
        "and the VA-conditioned presets (`conditioning`, not in the paper: trained on each song's own VA label "
        "beside the image feature, or in its place, and asked at generation for the test image's rated VA). "
        "Each run decodes the distinct test "
        "images greedily (the paper's method) and by seeded top-10 sampling (the shipped model's).",
        "",
        image_weights_note(sizes["image_weights"]) + (" With these weights each feature dimension is "
        "standardised with the training pairs' statistics (`image_encoder.FeatureScaling`)."
                                                      if sizes["image_weights"] == "none" else ""),
        "",
        f"**The judge.** VA(music) is predicted by a music VA predictor trained on another split of the music "
        f"(drawn with seed {settings['judge_seed']}) and from another seed than the predictor inside the loss "
        "(the prepared split, seed 0), so the loss does not grade its own homework. Distance = mean over the "
        "pieces of |VA(image) - VA(music)| averaged over valence and arousal (1-9 scale); pieces without notes "
        f"have no emotion and are left out (`rated`). Intervals: {settings['confidence']:.0%}; `[bootstrap]` "
        f"resamples images ({settings['n_boot']} draws, seeds pooled), `seeds` is a t interval across the seed "
        "means, `vs none` is the paired (same seed, same image) difference to the model without a term, `own - "
        "others` the paired difference between a picture's distance to its own music and to the music the same "
        "model made for the other test pictures (below 0 beyond the interval: the music follows its picture). r: "
        "Pearson correlation of image VA and music VA over the pieces (does the music follow the picture?). "
        "Copies: pieces (seeds pooled) sharing a run of at least 16 tokens, or 90% of their events, with a song "
        "the runs trained on (`memorisation.py`).",
        "",
        f"{result['environment']['backend']} on {result['environment']['device']}; {result['wall_seconds'] / 60:.0f} "
        f"minutes. Command: `{command}`.",
    ]
    for data, regime in result["regimes"].items():
        floor = regime["floor"]
        data_record = regime["data"]
        lines += [
            "",
            f"## {data}",
            "",
            f"{data_record['test_images_distinct']} distinct test images ({data_record['test_pieces_scored']} test "
            f"pairs); {data_record['train_songs_offered']} training pairs offered. **Floor** (the paired test "
            f"music, rated by the judge): distance {floor['judge']['distance']:.3f} "
            f"{_interval(floor['judge']['distance_ci'])}, r valence {floor['judge']['valence_r']:.2f}, r arousal "
            f"{floor['judge']['arousal_r']:.2f}, own - other pairs' music {floor['judge']['own_minus_others']:+.3f} "
            f"{_interval(floor['judge']['own_minus_others_ci'])}; by the music's own labels "
            f"{floor['labels']['distance']:.3f}. "
            f"Judge vs the loss's predictor on that music: mean |difference| {floor['judge_vs_loss_predictor']:.3f}.",
            "",
            "| model | decoding | distance [bootstrap] | seeds | vs none [bootstrap] | own - others [bootstrap] "
            "| rated | r valence | r arousal "
            "| polyphony | pitch entropy | groove | Music_Quality_Loss [bootstrap] | MQL vs our training music "
            "| with notes | copies of a training song | distinct pieces per seed | final cross-entropy "
            "| epoch s (x none) |",
            "|" + "---|" * 19,
        ]
        for key, model in regime["models"].items():
            cross_entropy = np.mean([run["cross_entropy"] for run in model["runs"]])
            ratio = regime["cost"][key]
            for name, row in model["decodings"].items():
                a, q = row["alignment"], row["quality"]
                versus = ("-" if "difference_to_baseline" not in a else
                          f"{a['difference_to_baseline']:+.3f} {_interval(a['difference_to_baseline_ci'])}")
                lines.append(
                    f"| {model['label']} | {name} | {a['distance']:.3f} {_interval(a['distance_ci'])} | "
                    f"{_interval(a['distance_across_seeds'][1:])} | {versus} | {a['own_minus_others']:+.3f} "
                    f"{_interval(a['own_minus_others_ci'])} | {a['rated']} | "
                    f"{a['valence_r']:.2f} {_interval(a['valence_r_ci'])} | {a['arousal_r']:.2f} "
                    f"{_interval(a['arousal_r_ci'])} | {q['polyphony_rate']:.3f} | {q['pitch_entropy']:.3f} | "
                    f"{q['groove_consistency']:.3f} | {q['music_quality_loss']:.3f} "
                    f"{_interval(q['music_quality_loss_ci'])} | {q['music_quality_loss_training_reference']:.3f} | "
                    f"{q['with_notes']:.0%} | {q['copies']} / {q['pieces']} | "
                    f"{', '.join(map(str, q['distinct_pieces']))} | {cross_entropy:.3f} | "
                    f"{ratio['epoch_seconds_median']:.1f} ({ratio['ratio_median']:.2f}x) |"
                )
    lines += ["", "## Verdicts (generated from the numbers above)", "", *verdicts(result)]
    return "\n".join(lines) + "\n"


def plot(result: dict, target: Path, decoding: str = "top-10 sampling") -> Path:
    """Image VA -> judged music VA as arrows coloured by their length, one panel per model, one row per regime
    (the first seed's pieces of `decoding`)."""
    # here, not at the top: pyplot takes 0.7-1.7 s to import (measured under load), paid only when drawing
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = result["regimes"]
    n_models = len(result["settings"]["models"])
    figure, axes = plt.subplots(len(regimes), n_models, figsize=(3.2 * n_models, 3.3 * len(regimes)),
                                squeeze=False, sharex=True, sharey=True, layout="constrained")
    colours = plt.get_cmap("viridis")
    for row, (data, regime) in enumerate(regimes.items()):
        image_va = np.array(regime["image_va"])  # (I, 2)
        for column, model in enumerate(regime["models"].values()):
            music_va = np.array([piece["music_va"] for piece in model["runs"][0]["pieces"][decoding]])  # (I, 2)
            distance = distances(image_va, music_va)  # (I,)
            kept = ~np.isnan(distance)
            panel = axes[row, column]
            panel.quiver(image_va[kept, 0], image_va[kept, 1], *(music_va[kept] - image_va[kept]).T,
                         distance[kept], cmap=colours, clim=(0, 3), angles="xy", scale_units="xy", scale=1,
                         width=0.004)
            panel.scatter(image_va[:, 0], image_va[:, 1], s=6, c="black", label="image VA")
            mean = model["decodings"][decoding]["alignment"]["distance"]
            panel.set_title(f"{data}: {model['label']}\nmean distance ({len(model['runs'])} seeds) {mean:.2f}",
                            fontsize=8)
            panel.set_xlim(0, 10)
            panel.set_ylim(0, 10)
            panel.grid(alpha=0.3)
            if row == len(regimes) - 1:
                panel.set_xlabel("valence")
            if column == 0:
                panel.set_ylabel("arousal")
    figure.colorbar(matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0, 3), colours), ax=axes,
                    label="distance |VA(image) - VA(music)|", shrink=0.8)
    figure.suptitle(f"Image VA -> generated music VA ({decoding}, seed {result['settings']['seeds'][0]})",
                    fontsize=9)
    axes[0, 0].legend(fontsize=7)
    with atomic_path(target) as tmp:  # not report.save_plot: its tight_layout would squeeze the shared colour bar
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return target
