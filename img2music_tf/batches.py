"""Songs -> training batches, the way the authors trained (docs/fidelity.md, row "training samples"), without their wasted padding.

Training is image captioning over tokens: a song of n token ids gives n-1 samples
(image feature, prefix ids[:i]) -> next token ids[i], and ONE song is ONE batch.
Prefixes are padded with 0 on the LEFT ('pre'), as Keras `pad_sequences` does by
default in the authors' code; a prefix longer than `max_len` keeps its last
`max_len` ids (also `pad_sequences`' default 'pre' truncating). Targets are the
integer ids (sparse), equal to the argmax of the authors' one-hot rows.

Length buckets: the authors pad every prefix to `max_len` (236), but the median
song has about 80 tokens, so most of that compute is spent on padding. Here a
song's prefixes are padded only to its longest prefix rounded UP to a multiple of
`bucket` (32), capped at `max_len`. This is equivalent to the authors' padding to
236 because padding is masked: both MIDI encoders ignore any amount of left
padding (tests/test_models.py), and a song's loss and predictions padded to its
bucket equal those padded to `max_len` (tests/test_train.py). Rounding to buckets
keeps the number of distinct shapes small, which matters where every shape is
compiled anew (JAX, XLA).

Padding rows: with `batch_bucket`, a song's batch also gets extra rows up to a
multiple of it, so its shape is one of a few (B, T) pairs. A padding row has the
target `PAD_ID` (never a real target) and the prefix `ids[:1]` (a valid input: an
all-padding prefix would make the encoders' masked averages 0/0); the training
loss leaves these rows out (`train.Img2MusicTrainer`).

Row groups: with `group_rows` G, a song's samples are split into groups of at most G
rows, group k padded to the longest prefix it can hold ((k+1)G, rounded up to the
bucket): prefix i pays for about i ids instead of the song's longest, and each group's
activations are smaller. The trainer runs the net on each group and concatenates the
probabilities in order (`train.Img2MusicTrainer.call`), so the loss and its gradient
are the song's, and Adam still steps once per song (tests/test_train.py).

The song order of each epoch is a pure function of (seed, epoch), so a resumed
run replays exactly the order an uninterrupted run would have used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import keras
import numpy as np

from img2music_tf.vocabulary import PAD_ID

BUCKET = 32  # prefix lengths (and, where asked, batch rows) are rounded up to a multiple of this


@dataclass(frozen=True)
class Song:
    """One training song: its id, its paired image's feature vector and its token ids."""

    id: str
    feature: np.ndarray  # (F,) float32
    ids: tuple[int, ...]


def round_up(n: int, bucket: int | None) -> int:
    """`n` rounded up to a multiple of `bucket` (`n` itself when `bucket` is None)."""
    return n if bucket is None else -(-n // bucket) * bucket


def pad_prefixes(prefixes: Sequence[Sequence[int]], max_len: int) -> np.ndarray:
    """Left-pad (and left-truncate) each prefix to `max_len` ids with `PAD_ID`."""
    out = np.full((len(prefixes), max_len), PAD_ID, dtype=np.int32)  # (B, T)
    for row, prefix in enumerate(prefixes):
        kept = list(prefix)[-max_len:]
        if kept:
            out[row, max_len - len(kept) :] = kept
    return out


def padded_length(n_ids: int, max_len: int, bucket: int | None = BUCKET) -> int:
    """Prefix length of a song of `n_ids` ids: its longest prefix (n_ids - 1) rounded up to `bucket`,
    at most `max_len`; `max_len` itself when `bucket` is None (the authors' padding)."""
    if bucket is None:
        return max_len
    return min(round_up(max(n_ids - 1, 1), bucket), max_len)


def batch_shape(n_ids: int, max_len: int, bucket: int | None = BUCKET,
                batch_bucket: int | None = None) -> tuple[int, int]:
    """(rows, prefix length) of the batch of a song of `n_ids` ids as one group, as `song_samples` lays it out."""
    return group_shapes(n_ids, max_len, bucket, batch_bucket)[0]


def group_shapes(n_ids: int, max_len: int, bucket: int | None = BUCKET, batch_bucket: int | None = None,
                 group_rows: int | None = None) -> list[tuple[int, int]]:
    """(rows, prefix length) of each row group of a song of `n_ids` ids, as `song_groups` lays them out.

    Group k holds the samples i = kG+1 .. min((k+1)G, n-1), G = `group_rows` (None: one group
    of all n-1). Its prefixes are padded to the longest one a group k can hold, (k+1)G, rounded
    up to `bucket` and at most `max_len`: a group's length depends on k alone, so the shapes come
    from a small fixed set. The last group's rows are rounded up to `batch_bucket`.
    """
    samples = n_ids - 1
    size = group_rows or samples
    shapes = [(min(size, samples - start), padded_length(start + size + 1, max_len, bucket))
              for start in range(0, samples, size)]
    rows, length = shapes[-1]
    return shapes[:-1] + [(round_up(rows, batch_bucket), length)]


def song_groups(
    ids: Sequence[int], max_len: int, bucket: int | None = BUCKET, batch_bucket: int | None = None,
    group_rows: int | None = None, shapes: Sequence[tuple[int, int]] | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """All (prefix ids[:i] -> ids[i]) samples of one song, i = 1..n-1, in row groups, plus padding rows.

    Returns the prefixes of each group, (B_k, T_k) int32 left-padded as `group_shapes` says, and
    the targets (sum of B_k,) int32 of all groups in order. `shapes`, each at least the song's own,
    possibly with more groups, pads to them instead. Padding rows (prefix ids[:1], a valid input:
    an all-padding prefix would make the encoders' masked averages 0/0) have the target `PAD_ID`.
    """
    ids = [int(i) for i in ids]
    samples = len(ids) - 1
    size = group_rows or samples
    shapes = shapes or group_shapes(len(ids), max_len, bucket, batch_bucket, group_rows)
    groups, targets = [], []
    for k, (rows, length) in enumerate(shapes):
        first, last = min(k * size + 1, len(ids)), min((k + 1) * size, samples)  # samples first..last
        real = list(range(first, last + 1))
        groups.append(pad_prefixes([ids[:i] for i in real] + [ids[:1]] * (rows - len(real)), length))  # (B_k, T_k)
        targets += [ids[i] for i in real] + [PAD_ID] * (rows - len(real))
    return groups, np.array(targets, dtype=np.int32)  # (sum B_k,)


def song_samples(
    ids: Sequence[int], max_len: int, bucket: int | None = BUCKET, batch_bucket: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All samples of one song as one group (`song_groups` without `group_rows`): prefixes (B, T) int32,
    left-padded to T = `padded_length(n, max_len, bucket)`, and targets (B,) int32, where B = n-1
    rounded up to `batch_bucket`; rows past n-1 are padding rows."""
    groups, targets = song_groups(ids, max_len, bucket, batch_bucket)
    return groups[0], targets


def epoch_order(n_songs: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The song order of `epoch`: a permutation drawn from (seed, epoch) alone."""
    if not shuffle:
        return np.arange(n_songs)
    return np.random.default_rng([seed, epoch]).permutation(n_songs)


def lead_with_two_lengths(order: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """`order` with its second entry swapped for the first later one whose length differs from the first's.

    Keras (TensorFlow backend) reads a PyDataset's first two batches and fixes every
    dimension they share except the batch axis; two songs of one length bucket in
    front would fix the prefix length and fail later batches. Unchanged when no
    such entry exists (then every batch has that length anyway).
    """
    order = np.array(order)
    if len(order) > 2 and lengths[order[0]] == lengths[order[1]]:
        later = [k for k in range(2, len(order)) if lengths[order[k]] != lengths[order[0]]]
        if later:
            order[[1, later[0]]] = order[[later[0], 1]]
    return order


class SongBatches(keras.utils.PyDataset):
    """A `PyDataset` whose batch k is every sample of one song (shuffled per epoch), in row groups.

    Each item is `(groups, targets (sum of B_k,) int32)`, `groups` a tuple of one
    `{"image": (B_k, F) float32, "tokens": (B_k, T_k) int32}` per row group, as
    `song_groups(ids, max_len, bucket, batch_bucket, group_rows)` lays them out (one group,
    the whole song, when `group_rows` is None); `bucket=None` pads to `max_len` as the
    authors did. Every item has the same number of groups, the most any song has: a song
    with fewer gets empty ones (0 rows), so Keras sees one structure. With `one_shape`,
    every item is padded to the largest shapes instead (padding rows in every group), so
    one compiled program serves them all (validation under XLA: a few forward passes,
    where each further shape would cost a compilation). `epoch` starts at `start_epoch`
    and advances in `on_epoch_end`, which Keras calls after every pass; set
    `start_epoch` to the number of finished epochs when resuming.
    """

    def __init__(
        self,
        songs: Sequence[Song],
        max_len: int,
        seed: int = 0,
        shuffle: bool = True,
        start_epoch: int = 0,
        bucket: int | None = BUCKET,
        batch_bucket: int | None = None,
        group_rows: int | None = None,
        one_shape: bool = False,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        songs = [song for song in songs if len(song.ids) >= 2]
        if not songs:
            raise ValueError("SongBatches needs at least one song with 2 or more tokens")
        if group_rows is not None and group_rows < 1:
            raise ValueError(f"group_rows must be >= 1 or None, got {group_rows}")
        self.songs = songs
        self.max_len = max_len
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = start_epoch
        self.bucket = bucket
        self.batch_bucket = batch_bucket
        self.group_rows = group_rows
        self.one_shape = one_shape
        self.lengths = [padded_length(len(song.ids), max_len, bucket) for song in songs]
        self.shapes = [group_shapes(len(song.ids), max_len, bucket, batch_bucket, group_rows) for song in songs]
        most = max(map(len, self.shapes))
        self.largest = [tuple(np.max([shapes[k] for shapes in self.shapes if k < len(shapes)], axis=0).tolist())
                        for k in range(most)]  # (rows, length) of group k: the most of any song

    def __len__(self) -> int:
        return len(self.songs)

    @property
    def num_samples(self) -> int:
        """Real samples per epoch: the sum over songs of (tokens - 1); padding rows not counted."""
        return sum(len(song.ids) - 1 for song in self.songs)

    def _order(self) -> np.ndarray:
        """Positions in `songs` of the current epoch's batches, in order."""
        return lead_with_two_lengths(epoch_order(len(self.songs), self.seed, self.epoch, self.shuffle), self.lengths)

    def _position(self, index: int) -> int:
        """Where in `songs` the song of batch `index` of the current epoch is."""
        return int(self._order()[index])

    def first_of_each_layout(self) -> list[int]:
        """Positions in `songs` of the first song of each distinct layout (`shapes`), in the order the current
        epoch meets them: under XLA each layout is one compiled program (`study.gpu_run.rehearse` compiles them
        ahead)."""
        first: dict[tuple, int] = {}
        for position in self._order().tolist():
            first.setdefault(tuple(self.shapes[position]), position)
        return list(first.values())

    def song_at(self, index: int) -> Song:
        """The song that batch `index` of the current epoch holds."""
        return self.songs[self._position(index)]

    def __getitem__(self, index: int):
        position = self._position(index)
        song, own = self.songs[position], self.shapes[position]
        # a group's length depends on its index alone (`group_shapes`), so missing groups are (0, that length)
        shapes = self.largest if self.one_shape else own + [(0, length) for _, length in self.largest[len(own) :]]
        groups, targets = song_groups(song.ids, self.max_len, self.bucket, self.batch_bucket, self.group_rows,
                                      shapes)  # [(B_k, T_k)], (sum of B_k,)
        feature = song.feature.astype(np.float32)  # (F,)
        return tuple({"image": np.ascontiguousarray(np.broadcast_to(feature, (len(tokens), len(feature)))),  # (B_k, F)
                      "tokens": tokens} for tokens in groups), targets

    def on_epoch_end(self) -> None:
        self.epoch += 1
