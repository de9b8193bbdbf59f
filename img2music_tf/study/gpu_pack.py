"""The GPU queue's pack as both sides read it: its format, its file names and one queue entry.

`gpu_queue.pack` writes a pack on the CPU; `gpu_run` reads it on a JAX-only GPU machine, so this module
imports nothing beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT = "img2music_tf.gpu_queue/1"
QUEUE_FILE = "queue.json"
SONGS_FILE = "songs.npz"
FEATURES_FILE = "features.npz"
VA_PREDICTOR_FOLDER = "va_predictor"
VA_TABLES_FILE = "va_tables.npz"


@dataclass(frozen=True)
class Entry:
    """One training of the queue: what to train, for how long, what to decode, and what it costs."""

    preset: str  # the trained preset (`experiments.trained_preset`)
    seed: int
    epochs: int
    snapshot_epochs: tuple[int, ...]  # epochs whose test tokens some artefact row reads (the last = epochs)
    rows: tuple[str, ...]  # the artefact rows it serves
    features: str  # key of its image features in features.npz
    run_info: dict  # its config.json (`run_folder.RunInfo`); the GPU fills in its Keras version
    cost: int  # padded token positions trained and validated, all epochs: the unit of the time estimates

    @classmethod
    def from_dict(cls, values: dict) -> "Entry":
        return cls(**{**values, "snapshot_epochs": tuple(values["snapshot_epochs"]), "rows": tuple(values["rows"])})
