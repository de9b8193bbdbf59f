"""The GPU queue's pack as both sides read it: its format, its file names, one queue entry, and the bf16
form in which weights come back.

`gpu_queue.pack` writes a pack on the CPU; `gpu_run` reads it on a JAX-only GPU machine, so this module
imports nothing beyond the standard library and NumPy.

A pack holds one folder per data regime (its vocabulary, songs, image features, VA predictors and lookup
tables) and `queue.json`: the parts (each a data regime at one fidelity, with the settings it was packed
with) and the entries, each naming its part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORMAT = "img2music_tf.gpu_queue/2"
QUEUE_FILE = "queue.json"
SONGS_FILE = "songs.npz"
FEATURES_FILE = "features.npz"
VA_TABLES_FILE = "va_tables.npz"
LANES_LOG = "lanes.log"  # the lanes' output, gathered when they end


@dataclass(frozen=True)
class Entry:
    """One training of the queue: what to train, for how long, what to decode, and what it costs."""

    part: str  # its part of the queue (a data regime at one fidelity): a key of queue.json's "parts"
    preset: str  # the trained preset (`experiments.trained_preset`)
    seed: int
    epochs: int
    snapshot_epochs: tuple[int, ...]  # epochs whose test tokens some artefact row reads (the last = epochs)
    rows: tuple[str, ...]  # the artefact rows it serves
    features: str  # key of its image features in its data folder's features.npz
    run_info: dict  # its config.json (`run_folder.RunInfo`); the GPU fills in its Keras version
    cost: int  # padded token positions trained and validated, all epochs: the unit of the time estimates
    va_predictor: str | None = None  # its VA predictor's folder in the pack, when it trains with the VA term
    keep_weights: bool = False  # bring its final weights back (`weights_file`, bf16)

    @classmethod
    def from_dict(cls, values: dict) -> "Entry":
        return cls(**{**values, "snapshot_epochs": tuple(values["snapshot_epochs"]), "rows": tuple(values["rows"])})

    @property
    def weights_file(self) -> str:
        """The name of its final weights in the GPU's output folder."""
        return f"weights-{self.part}-{self.preset}-seed{self.seed}.npz"


def to_bf16(array: np.ndarray) -> np.ndarray:
    """float32 -> the bits of the nearest bfloat16 (uint16, round half to even): half the bytes, 8 bits of
    mantissa; NumPy alone, so that both machines read it."""
    bits = np.ascontiguousarray(array, np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16(bits: np.ndarray) -> np.ndarray:
    """The bits of `to_bf16` -> float32."""
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)
