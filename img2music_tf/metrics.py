"""The paper's music-quality metrics (Section 4.1, Tables 1-2) and the figures built on them.

The three metrics are muspy 0.5's, called exactly as the authors called them:

    polyphony_rate     = #(ticks with MORE than 2 pitches on) / #(ticks)
    pitch_entropy      = -sum_i P(pitch=i) log2 P(pitch=i), over the 128 MIDI pitches
    groove_consistency = 1 - 1/(T-1) sum_i d(g_i, g_{i+1}) / 4, with a "measure" of 4 TICKS

`music_quality_loss` is the paper's Music_Quality_Loss: the SUM (the paper says
average; its Table 1 numbers are the sum) of the three relative errors against
reference values, by default the authors' means over the 3000 EIMG files.

NaN policy: a metric that is undefined for a piece is NaN, never an error.
muspy returns NaN for music of zero length (polyphony rate), with no notes
(pitch entropy) or shorter than two 4-tick measures (groove consistency); we
extend this to music with no tracks, where muspy itself would raise. Set-level
means (`reference_values`, `summarize`, `mean_ci`) skip NaN pieces and report
how many pieces were defined; `music_quality_loss` of a NaN value is NaN.

Groove consistency counts ticks, so it depends on the tick resolution: the
same EIMG pieces score 0.9922 at their own 480/1024 ticks per beat and 0.9996
at music21's 10080. The authors compared generated MIDI written by music21
with references read at EIMG's resolutions; `read_music` keeps each file's
own resolution, as they did.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import muspy
import numpy as np
from scipy import stats
from tqdm import tqdm

from img2music_tf.errors import UserError
from img2music_tf.tokens import MUSIC21_TICKS_PER_QUARTER, tokens_to_music

METRIC_NAMES = ("polyphony_rate", "pitch_entropy", "groove_consistency")

# Mean of the three metrics over the 3000 EIMG MIDI files, from the authors' code
# (docs/fidelity.md, row "metrics"); the paper prints them rounded to [0.5303, 3.9863, 0.9922].
PAPER_REFERENCE = (0.5302987662965006, 3.986320228665771, 0.9921825307541308)

# The authors' muspy arguments: polyphony counts ticks with more than 2 pitches
# on; groove consistency uses a "measure" of 4 ticks.
POLYPHONY_THRESHOLD = 2
GROOVE_MEASURE_TICKS = 4


def read_music(path: str | Path) -> muspy.Music:
    """Read a MIDI file with muspy at its own resolution, as the authors did."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"MIDI file not found: {path}")
    try:
        return muspy.read_midi(path)
    except Exception as error:  # mido raises many kinds on a corrupt file
        raise UserError(f"cannot read MIDI file {path}: {error}") from None


def polyphony_rate(music: muspy.Music) -> float:
    """Fraction of ticks with more than 2 pitches sounding (muspy, threshold=2).

    polyphony_rate = #(ticks where #pitches_on > 2) / #(ticks from 0 to the last note end).
    Drum tracks are ignored. NaN for music of zero length.
    """
    if not music.tracks:
        return math.nan
    return float(muspy.polyphony_rate(music, threshold=POLYPHONY_THRESHOLD))


def pitch_entropy(music: muspy.Music) -> float:
    """Base-2 Shannon entropy of the pitch histogram of all notes (muspy).

    pitch_entropy = -sum_{i=0}^{127} P(pitch=i) log2 P(pitch=i), P counted over notes.
    Drum tracks are ignored. NaN for music with no notes.
    """
    if not music.tracks:
        return math.nan
    return float(muspy.pitch_entropy(music))


def groove_consistency(music: muspy.Music) -> float:
    """One minus the mean Hamming distance of onset patterns of neighbouring 4-tick "measures".

    groove_consistency = 1 - sum_{i=1}^{T-1} d(g_i, g_{i+1}) / (4 (T-1)), where g_i is
    the binary onset vector of ticks [4i, 4i+4) and T = end_tick // 4 + 1 (muspy,
    measure_resolution=4). With a measure of 4 ticks at hundreds of ticks per beat,
    most measures are empty, hence values near 0.999. NaN for fewer than 2 measures.
    """
    if not music.tracks:
        return math.nan
    return float(muspy.groove_consistency(music, measure_resolution=GROOVE_MEASURE_TICKS))


def quality_metrics(music: muspy.Music) -> dict[str, float]:
    """The three metrics of one piece, keyed by `METRIC_NAMES`."""
    return {
        "polyphony_rate": polyphony_rate(music),
        "pitch_entropy": pitch_entropy(music),
        "groove_consistency": groove_consistency(music),
    }


def token_metrics(tokens: Iterable[str]) -> dict[str, float]:
    """The three metrics of a token sequence, as the tables score its MIDI file.

    Tables write each piece with music21 (`tokens.write_midi`, 10080 ticks per beat) and read it back;
    `tokens.tokens_to_music` builds the same notes at the same resolution in memory, without a file
    (tested equal), so sweeps over many sequences stay fast (results/metric_anatomy.md).
    """
    return quality_metrics(tokens_to_music(tokens, MUSIC21_TICKS_PER_QUARTER))


def _as_triple(values: Mapping[str, float] | Sequence[float]) -> np.ndarray:
    """Metric values as a float array in `METRIC_NAMES` order, from a dict or a sequence."""
    if isinstance(values, Mapping):
        values = [values[name] for name in METRIC_NAMES]
    array = np.asarray(values, dtype=float)
    if array.shape != (len(METRIC_NAMES),):
        raise ValueError(f"expected {len(METRIC_NAMES)} metric values, got shape {array.shape}")
    return array


def metric_table(musics: Iterable[muspy.Music]) -> np.ndarray:
    """Per-piece metrics of a set, shape (N, 3) in `METRIC_NAMES` order; NaN where undefined."""
    rows = [
        _as_triple(quality_metrics(music))
        for music in tqdm(musics, desc="music metrics", unit="piece", leave=False, disable=None)
    ]
    return np.asarray(rows, dtype=float).reshape(-1, len(METRIC_NAMES))  # (N, 3)


def reference_values(musics: Iterable[muspy.Music]) -> tuple[float, float, float]:
    """Mean of each metric over a set (e.g. the training music), skipping pieces where it is NaN.

    Over the 3000 EIMG files, each read at its own resolution, this gives
    `PAPER_REFERENCE` exactly (an integration test checks it).
    """
    table = metric_table(musics)  # (N, 3)
    defined = ~np.isnan(table)
    for name, count in zip(METRIC_NAMES, defined.sum(axis=0)):
        if count == 0:
            raise UserError(f"no piece in the set has a defined {name} (is the set empty?)")
    means = np.nanmean(table, axis=0)
    return tuple(float(value) for value in means)


def relative_errors(
    values: Mapping[str, float] | Sequence[float],
    reference: Sequence[float] = PAPER_REFERENCE,
) -> tuple[float, float, float]:
    """|generated - reference| / reference for each metric, in `METRIC_NAMES` order."""
    generated, ref = _as_triple(values), _as_triple(reference)
    return tuple(float(error) for error in np.abs(generated - ref) / ref)


def music_quality_loss(
    values: Mapping[str, float] | Sequence[float],
    reference: Sequence[float] = PAPER_REFERENCE,
) -> float:
    """The paper's Music_Quality_Loss: sum over the 3 metrics of |generated - reference| / reference.

    The paper calls it an average, but every row of its Tables 1-2 is the sum,
    e.g. Trans_enc3_dec3_VGG: 0.3153 + 0.4989 + 0.0074 = 0.8216. The tables apply
    it to the mean metric values of the generated set. NaN if any value is NaN.
    """
    return float(sum(relative_errors(values, reference)))


def emotion_alignment(image_va, music_va) -> dict[str, float]:
    """Mean absolute VA difference between images and the music made from them (1-9 scale).

    Not in the paper, which reports no emotion figure: image_va and music_va are
    arrays of shape (N, 2) (valence, arousal), e.g. image labels and the music VA
    predictor's output. Returns the mean |dV|, the mean |dA| and their average.
    """
    image_va = np.atleast_2d(np.asarray(image_va, dtype=float))  # (N, 2)
    music_va = np.atleast_2d(np.asarray(music_va, dtype=float))  # (N, 2)
    if image_va.shape != music_va.shape or image_va.shape[1:] != (2,) or len(image_va) == 0:
        raise UserError(
            f"emotion alignment needs two (N, 2) valence/arousal arrays of one shape, "
            f"got {image_va.shape} and {music_va.shape}"
        )
    error = np.abs(image_va - music_va).mean(axis=0)  # (2,)
    return {"valence": float(error[0]), "arousal": float(error[1]), "overall": float(error.mean())}


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval: (mean, low, high).

    mean +- t_{(1+c)/2, n-1} * s / sqrt(n), s the sample standard deviation.
    NaN values are skipped. With one value the interval is undefined, so low and
    high are NaN (not a zero-width interval that would claim certainty); with
    none, all three are NaN.
    """
    if not 0.0 < confidence < 1.0:
        raise UserError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    data = np.asarray(values, dtype=float).ravel()
    data = data[~np.isnan(data)]
    if data.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if data.size == 1:
        return (mean, math.nan, math.nan)
    half = stats.t.ppf((1.0 + confidence) / 2.0, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size)
    return (mean, float(mean - half), float(mean + half))


def summarize(
    table: np.ndarray,
    reference: Sequence[float] = PAPER_REFERENCE,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """One table row from per-piece metrics (N, 3): mean and CI per metric, and the quality loss.

    The loss is taken of the mean metric values, as in the paper's tables, with
    a bootstrap interval (`quality_loss_ci`, drawn with `seed`). The result is
    plain JSON-ready data.
    """
    table = np.asarray(table, dtype=float).reshape(-1, len(METRIC_NAMES))  # (N, 3)
    row: dict = {"n": int(len(table))}
    means = []
    for name, column in zip(METRIC_NAMES, table.T):
        mean, low, high = mean_ci(column, confidence)
        row[name] = {"mean": mean, "low": low, "high": high, "n_defined": int(np.sum(~np.isnan(column)))}
        means.append(mean)
    row["music_quality_loss"] = music_quality_loss(means, reference)
    row["music_quality_loss_ci"] = list(quality_loss_ci(table, reference, confidence, seed=seed))
    row["relative_errors"] = dict(zip(METRIC_NAMES, relative_errors(means, reference)))
    return row


def quality_loss_ci(
    table: np.ndarray,
    reference: Sequence[float] = PAPER_REFERENCE,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval (low, high) of the quality loss of a set's mean metrics.

    The loss is not a mean over pieces, so no t interval applies: resample the
    pieces (rows of the (N, 3) table) `n_boot` times with replacement, take the
    loss of each resample's mean metrics (NaN skipped), and report the central
    `confidence` share. Crude for a handful of pieces; NaN for fewer than 2.
    """
    if not 0.0 < confidence < 1.0:
        raise UserError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    table = np.asarray(table, dtype=float).reshape(-1, len(METRIC_NAMES))  # (N, 3)
    if len(table) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample may hold no defined value
        for _ in range(n_boot):
            sample = table[rng.integers(0, len(table), size=len(table))]  # (N, 3)
            losses.append(music_quality_loss(np.nanmean(sample, axis=0), reference))
    losses = np.asarray(losses)
    losses = losses[~np.isnan(losses)]
    if losses.size == 0:
        return (math.nan, math.nan)
    low, high = np.quantile(losses, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return (float(low), float(high))


# --- a table row from generated pieces -----------------------------------------------------------

FIRST_PIECES = 4
"""The paper's Table 2 averaged over 4 generated pieces: rows also report the first 4 test pieces."""
HEADLINES = ("music_quality_loss", *METRIC_NAMES, "music_quality_loss_training_reference")
"""The numbers a table row shows: the paper's columns, then the quality loss against our training music."""


def aggregate_pieces(pieces: list[dict], training_reference: Sequence[float]) -> dict:
    """Table rows of one run: over all its pieces and over the first `FIRST_PIECES` (the paper's Table 2).

    Each piece is a dict with "metrics" ({name: value}) and, optionally, "image_va",
    "paired_music_va" and "generated_music_va". Per row: `summarize` against the paper's
    reference (means with 95% t intervals, quality loss with a bootstrap interval), the quality
    loss against `training_reference` with its interval, and, where the generated music's VA is
    known, its emotion alignment with the image beside that of the paired music's labels.
    """
    result = {}
    for label, chosen in (("all", pieces), (f"first{FIRST_PIECES}", pieces[:FIRST_PIECES])):
        table = np.array([[p["metrics"][name] for name in METRIC_NAMES] for p in chosen], float)  # (N, 3)
        row = summarize(table, PAPER_REFERENCE)
        means = [row[name]["mean"] for name in METRIC_NAMES]
        row["music_quality_loss_training_reference"] = music_quality_loss(means, training_reference)
        row["music_quality_loss_training_reference_ci"] = list(quality_loss_ci(table, training_reference))
        if chosen and "memorisation" in chosen[0]:
            row["memorisation"] = memorisation_summary(chosen)
        if chosen and "generated_music_va" in chosen[0]:
            image_va = [p["image_va"] for p in chosen]
            row["emotion_alignment"] = emotion_alignment(image_va, [p["generated_music_va"] for p in chosen])
            row["emotion_alignment_paired_music_labels"] = emotion_alignment(
                image_va, [p["paired_music_va"] for p in chosen]
            )
        result[label] = row
    return result


def memorisation_summary(pieces: list[dict]) -> dict:
    """Copies and diversity of a set of generated pieces (each with "tokens", "image_id", "memorisation").

    `copied`: pieces that copy a training song (`memorisation.MIN_RUN` tokens in a row, or most of the
    piece); `songs_copied`: which songs, how often; `distinct_pieces` over `distinct_images`: does the
    image change the music?; `longest_run`: the median longest run shared with a training song.
    """
    copies = [p["memorisation"] for p in pieces if p["memorisation"]["copied"]]
    return {
        "n": len(pieces),
        "copied": len(copies),
        "share_copied": len(copies) / len(pieces) if pieces else math.nan,
        "songs_copied": dict(sorted(Counter(c["song"] for c in copies).items())),
        "longest_run_median": float(np.median([p["memorisation"]["longest_run"] for p in pieces])),
        "distinct_pieces": len({p["tokens"] for p in pieces}),
        "distinct_images": len({p["image_id"] for p in pieces}),
    }


def unigram_cross_entropy(songs: Iterable[Sequence[str]]) -> float:
    """Cross-entropy (nats) of predicting every next token by its frequency among the training targets.

    The baseline a model beats only by using the prefix or the image: the entropy of the targets
    (every token after `<start>`) of the training songs.
    """
    counts = Counter(token for song in songs for token in list(song)[1:])
    total = sum(counts.values())
    if not total:
        return math.nan
    shares = np.array(list(counts.values()), float) / total
    return float(-(shares * np.log(shares)).sum())


def headline(row: dict, name: str) -> float:
    """One headline number of an aggregate row: a metric's mean, or a quality loss."""
    value = row[name]
    return value["mean"] if isinstance(value, dict) else value


def across_seeds(aggregates: list[dict]) -> dict:
    """Mean and sample standard deviation across seeds of every headline number, per row label."""
    result = {}
    for label in aggregates[0]:
        values = {name: [headline(aggregate[label], name) for aggregate in aggregates] for name in HEADLINES}
        result[label] = {
            name: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else math.nan,
                   "n_seeds": len(v)}
            for name, v in values.items()
        }
    return result
