"""Songs -> training batches, the way the authors trained (FIDELITY.md "Training").

Training is image captioning over tokens: a song of n token ids gives n-1 samples
(image feature, prefix ids[:i]) -> next token ids[i], and ONE song is ONE batch.
Prefixes are padded with 0 on the LEFT ('pre'), as Keras `pad_sequences` does by
default in the authors' code; a prefix longer than `max_len` keeps its last
`max_len` ids (also `pad_sequences`' default 'pre' truncating). Targets are the
integer ids (sparse), equal to the argmax of the authors' one-hot rows.

The song order of each epoch is a pure function of (seed, epoch), so a resumed
run replays exactly the order an uninterrupted run would have used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import keras
import numpy as np

PAD_ID = 0


@dataclass(frozen=True)
class Song:
    """One training song: its id, its paired image's feature vector and its token ids."""

    id: str
    feature: np.ndarray  # (F,) float32
    ids: tuple[int, ...]


def pad_prefixes(prefixes: Sequence[Sequence[int]], max_len: int) -> np.ndarray:
    """Left-pad (and left-truncate) each prefix to `max_len` ids with `PAD_ID`."""
    out = np.full((len(prefixes), max_len), PAD_ID, dtype=np.int32)  # (B, T)
    for row, prefix in enumerate(prefixes):
        kept = list(prefix)[-max_len:]
        if kept:
            out[row, max_len - len(kept) :] = kept
    return out


def song_samples(ids: Sequence[int], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """All (prefix ids[:i] -> ids[i]) samples of one song, i = 1..n-1.

    Returns prefixes (n-1, max_len) int32, left-padded, and targets (n-1,) int32.
    """
    ids = [int(i) for i in ids]
    prefixes = [ids[:i] for i in range(1, len(ids))]
    targets = np.asarray(ids[1:], dtype=np.int32)  # (n-1,)
    return pad_prefixes(prefixes, max_len), targets


def epoch_order(n_songs: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The song order of `epoch`: a permutation drawn from (seed, epoch) alone."""
    if not shuffle:
        return np.arange(n_songs)
    return np.random.default_rng([seed, epoch]).permutation(n_songs)


class SongBatches(keras.utils.PyDataset):
    """A `PyDataset` whose batch k is every sample of one song (shuffled per epoch).

    Each item is `({"image": (n-1, F) float32, "tokens": (n-1, max_len) int32},
    targets (n-1,) int32)`. `epoch` starts at `start_epoch` and advances in
    `on_epoch_end`, which Keras calls after every pass; set `start_epoch` to the
    number of finished epochs when resuming.
    """

    def __init__(
        self,
        songs: Sequence[Song],
        max_len: int,
        seed: int = 0,
        shuffle: bool = True,
        start_epoch: int = 0,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        songs = [song for song in songs if len(song.ids) >= 2]
        if not songs:
            raise ValueError("SongBatches needs at least one song with 2 or more tokens")
        self.songs = songs
        self.max_len = max_len
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = start_epoch

    def __len__(self) -> int:
        return len(self.songs)

    @property
    def num_samples(self) -> int:
        """Samples per epoch: the sum over songs of (tokens - 1)."""
        return sum(len(song.ids) - 1 for song in self.songs)

    def song_at(self, index: int) -> Song:
        """The song that batch `index` of the current epoch holds."""
        order = epoch_order(len(self.songs), self.seed, self.epoch, self.shuffle)
        return self.songs[int(order[index])]

    def __getitem__(self, index: int):
        song = self.song_at(index)
        tokens, targets = song_samples(song.ids, self.max_len)  # (B, T), (B,)
        image = np.broadcast_to(song.feature.astype(np.float32), (len(targets), song.feature.shape[-1]))
        return {"image": np.ascontiguousarray(image), "tokens": tokens}, targets

    def on_epoch_end(self) -> None:
        self.epoch += 1
