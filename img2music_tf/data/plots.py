"""One figure of the music and image valence-arousal labels, to see how well the two sets overlap."""

from __future__ import annotations

from pathlib import Path

from img2music_tf import files
from img2music_tf.data.items import VA_MAX, VA_MIN, Item


def plot_va(music: list[Item], images: list[Item], target: Path, title: str = "") -> Path:
    """Scatter music and image VA (1-9) in one PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 6))
    for items, label, colour, marker in ((images, "images", "tab:orange", "s"), (music, "music", "tab:blue", "o")):
        axes.scatter(
            [i.valence for i in items], [i.arousal for i in items],
            s=8, alpha=0.35, c=colour, marker=marker, label=f"{label} ({len(items)})", linewidths=0,
        )
    axes.set(xlim=(VA_MIN - 0.2, VA_MAX + 0.2), ylim=(VA_MIN - 0.2, VA_MAX + 0.2), xlabel="valence", ylabel="arousal")
    axes.set_aspect("equal")
    axes.set_title(title or "valence-arousal labels")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", markerscale=2)
    figure.tight_layout()
    with files.atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)
    return Path(target)
