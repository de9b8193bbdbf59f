"""What moves when a VA-conditioned net is asked for another emotion (not in the paper).

A controlled experiment on a trained VA-conditioned run (`conditioning`): the same test pictures, the same
random streams, the same seed, and only the asked (valence, arousal) changes, over the four quadrants of the
VA plane (`QUADRANTS`). Per quadrant: the judge's VA of the music and five musical features (`features`):
tempo, register, density, share of pieces in a minor key, pitch entropy; and how the judged VA follows the
asked one (Pearson r over all pieces). The figure: four test pictures spread over the VA plane, each with
the piece made for its own rated VA, as piano rolls side by side.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from img2music_tf import metrics, tokens
from img2music_tf.conditioning import net_inputs
from img2music_tf.decode import GenerationConfig, generate_tokens, picture_stream
from img2music_tf.files import atomic_path
from img2music_tf.run_folder import load_run

QUADRANTS = {"low V, low A": (3.0, 3.0), "low V, high A": (3.0, 7.0), "high V, low A": (7.0, 3.0),
             "high V, high A": (7.0, 7.0)}
"""The asked (valence, arousal) per quadrant of the 1-9 plane: two points from the middle on each axis."""
TICKS = 48  # per beat, for the piano rolls
FEATURES = ("tempo_bpm", "mean_pitch", "notes_per_second", "minor_key", "pitch_entropy")


def features(sequence: list[str]) -> dict[str, float]:
    """The musical features of one piece: its first tempo (120 bpm without one), mean MIDI pitch, notes per
    second sounding, 1 if music21's key estimate is minor else 0, and pitch entropy (muspy); NaN without notes."""
    notes = tokens.tokens_to_notes(sequence)  # (N, 4): onset, pitch, duration, velocity
    if not len(notes):
        return {name: math.nan for name in FEATURES}
    tempi = [event.bpm for event in tokens.parse_tokens(sequence) if event.kind == "tempo"]
    seconds = tokens.sounding_seconds(sequence)
    key = tokens.tokens_to_stream(sequence).analyze("key")
    return {
        "tempo_bpm": float(tempi[0]) if tempi else 120.0,
        "mean_pitch": float(notes[:, 1].mean()),
        "notes_per_second": len(notes) / seconds if seconds > 0 else math.nan,
        "minor_key": float(key.mode == "minor"),
        "pitch_entropy": metrics.pitch_entropy(tokens.tokens_to_music(sequence)),
    }


def steer(run_dir: Path, pictures: list[Path], picture_va: np.ndarray, judge, generation: dict,
          confidence: float = 0.95) -> dict:
    """Decode every picture (I) once per quadrant with the run, asked for that quadrant's VA; rate and describe
    each piece; summarise per quadrant (mean and t interval) and the correlation of asked and judged VA.
    Then each picture once more with its own rated VA `picture_va` (I, 2), for the figure."""
    run = load_run(run_dir)
    config = GenerationConfig(**{**generation, "max_len": run.config.max_len})
    streams = [picture_stream(path) for path in pictures]
    features_of = run.image_features(pictures, progress=False)  # (I, F): read once, asked four times

    def decode(va: np.ndarray) -> list[list[str]]:  # va (I, 2)
        return generate_tokens(run.model, net_inputs(features_of, va, run.config), run.vocabulary, config,
                               progress=False, streams=streams)

    def judged(sequence: list[str]) -> list[float]:
        notes = tokens.tokens_to_notes(sequence, judge.config.resolution)
        return [math.nan, math.nan] if not len(notes) else judge.predict_notes([notes])[0].tolist()

    quadrants, asked, rated = {}, [], []
    for name, va in QUADRANTS.items():
        pieces = [{**features(sequence), "judged_va": judged(sequence)}
                  for sequence in decode(np.tile(va, (len(pictures), 1)))]
        asked += [va] * len(pieces)
        rated += [piece["judged_va"] for piece in pieces]
        summary = {key: metrics.mean_ci([piece[key] for piece in pieces], confidence) for key in FEATURES}
        for index, dimension in enumerate(("valence", "arousal")):
            summary[f"judged_{dimension}"] = metrics.mean_ci([piece["judged_va"][index] for piece in pieces],
                                                             confidence)
        quadrants[name] = {"asked_va": list(va), **summary, "pieces": pieces}
    asked, rated = np.array(asked), np.array(rated)  # (4I, 2) each
    kept = ~np.isnan(rated).any(axis=1)
    own = decode(np.asarray(picture_va, "float32"))
    return {
        "run": str(run_dir),
        "preset": run.config.name,
        "va_condition": run.config.va_condition,
        "pictures": [path.name for path in pictures],
        "generation": generation,
        "quadrants": quadrants,
        "valence_r": float(np.corrcoef(asked[kept, 0], rated[kept, 0])[0, 1]) if kept.sum() > 2 else math.nan,
        "arousal_r": float(np.corrcoef(asked[kept, 1], rated[kept, 1])[0, 1]) if kept.sum() > 2 else math.nan,
        "own": [{"picture": path.name, "picture_va": list(map(float, va)), "tokens": sequence}
                for path, va, sequence in zip(pictures, picture_va, own)],
    }


def spread_over_the_plane(picture_va: np.ndarray) -> list[int]:
    """Indices of four pictures (I, 2) nearest the quadrants' points, one per quadrant, none twice (fewer when
    there are fewer pictures)."""
    chosen: list[int] = []
    for point in list(QUADRANTS.values())[: len(picture_va)]:
        order = np.argsort(np.abs(np.asarray(picture_va) - point).sum(axis=1))
        chosen.append(next(int(i) for i in order if int(i) not in chosen))
    return chosen


def markdown_rows(result: dict) -> list[str]:
    """The per-quadrant table of one run's result."""
    def cell(triple) -> str:
        mean, low, high = triple
        return "-" if math.isnan(mean) else f"{mean:.2f}" + ("" if math.isnan(low) else f" [{low:.2f}, {high:.2f}]")

    lines = ["| asked VA | judged valence | judged arousal | tempo (bpm) | mean pitch (MIDI) | notes per second "
             "| minor key (share) | pitch entropy |", "|" + "---|" * 8]
    for name, row in result["quadrants"].items():
        lines.append(f"| {name} ({row['asked_va'][0]:g}, {row['asked_va'][1]:g}) | {cell(row['judged_valence'])} | "
                     f"{cell(row['judged_arousal'])} | " + " | ".join(cell(row[key]) for key in FEATURES) + " |")
    return lines


def plot_rolls(result: dict, target: Path) -> Path:
    """Four piano rolls side by side: the pieces made for the four pictures spread over the VA plane, each
    asked for its own picture's rated VA (pitch against beats)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    own = result["own"]
    chosen = spread_over_the_plane(np.array([piece["picture_va"] for piece in own]))
    figure, axes = plt.subplots(1, len(chosen), figsize=(4 * len(chosen), 3.6), sharey=True, squeeze=False,
                                layout="constrained")
    axes = axes[0]
    for panel, index in zip(axes, chosen):
        piece = own[index]
        notes = tokens.tokens_to_notes(piece["tokens"], resolution=TICKS)  # (N, 4) in ticks
        if len(notes):
            panel.barh(notes[:, 1], notes[:, 2] / TICKS, left=notes[:, 0] / TICKS, height=0.8, color="C0",
                       edgecolor="black", linewidth=0.3)
        valence, arousal = piece["picture_va"]
        panel.set_title(f"{piece['picture']}\npicture VA ({valence:.1f}, {arousal:.1f})", fontsize=8)
        panel.set_xlabel("beats")
        panel.grid(alpha=0.3)
    axes[0].set_ylabel("MIDI pitch")
    figure.suptitle(f"{result['preset']}: music for pictures spread over the VA plane (seeded top-10 sampling)",
                    fontsize=9)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return target
