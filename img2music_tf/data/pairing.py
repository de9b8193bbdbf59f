"""Emotion pairing and the train/val/test split (paper Section 3.1).

Each music piece y gets the image x with the highest similarity score
    s_xy = ((v_x - v_y)^2 + (a_x - a_y)^2)^(-1/2),
i.e. the nearest image in valence-arousal space. Ties go to the lowest image
id (string order); an exact VA match has an infinite score, which is fine.
Images may repeat: every music piece needs an image, nearest-neighbour matching
is not one-to-one, and there are fewer images (Emotion6: 1980) than music
pieces (EIMG: 3000); the paper likewise reports 3000 pairs from 4029 images.

The authors' data (`pair_songs`) fixes the training pairs instead: 2884 pairs hold
70 songs, each song the music of 11-104 pairs. There, test and validation images are
held out first (seeded), each paired with its most similar song; every song's training
pairs then take its nearest DISTINCT remaining images, one each, so a song is not tied
to a single picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from img2music_tf.data.items import Item
from img2music_tf.errors import UserError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Pair:
    """A music piece, the image paired with it, and their similarity score s_xy (inf for an exact match)."""

    music: Item
    image: Item
    score: float


def similarity(image: Item, music: Item) -> float:
    """The paper's s_xy: inverse Euclidean distance in valence-arousal space (inf when equal)."""
    distance = float(np.hypot(image.valence - music.valence, image.arousal - music.arousal))
    return float("inf") if distance == 0.0 else 1.0 / distance


def pair_by_emotion(music: list[Item], images: list[Item]) -> list[Pair]:
    """One pair per music piece (in music id order) with its most similar image."""
    if not music or not images:
        raise UserError(f"pairing needs music and images; got {len(music)} music items and {len(images)} images")
    music = sorted(music, key=lambda item: item.id)
    images = sorted(images, key=lambda item: item.id)
    music_va = np.array([(m.valence, m.arousal) for m in music])  # (M, 2)
    image_va = np.array([(i.valence, i.arousal) for i in images])  # (I, 2)
    squared = ((music_va[:, None, :] - image_va[None, :, :]) ** 2).sum(-1)  # (M, I)
    best = squared.argmin(axis=1)  # (M,) first minimum = lowest image id
    return [Pair(m, images[j], similarity(images[j], m)) for m, j in zip(music, best)]


def split_ids(ids: list[str], seed: int, n_test: int = 100, n_val: int = 16) -> dict[str, list[str]]:
    """A seeded random split of `ids` into n_test test, n_val validation and the rest train (each sorted)."""
    ids = sorted(set(ids))
    if n_test < 0 or n_val < 0:
        raise UserError(f"split sizes must be >= 0, got test {n_test}, val {n_val}")
    if len(ids) <= n_test + n_val:
        raise UserError(
            f"cannot split {len(ids)} items into {n_test} test + {n_val} validation + at least 1 train; "
            "give more items (data prepare: or smaller --n-test/--n-val)"
        )
    order = np.random.default_rng(seed).permutation(len(ids))
    test, val, train = np.split(order, [n_test, n_test + n_val])
    parts = {"test": test, "val": val, "train": train}
    return {name: sorted(ids[i] for i in parts[name]) for name in SPLITS}


def _by_similarity(music: Item, images: list[Item]) -> list[Item]:
    """`images` from the most to the least similar to `music` (ties to the lowest image id)."""
    distance = [(float(np.hypot(i.valence - music.valence, i.arousal - music.arousal)), i.id, i) for i in images]
    return [image for _, _, image in sorted(distance, key=lambda row: row[:2])]


def pair_songs(music: list[Item], songs: dict[str, str], images: list[Item], seed: int, n_test: int = 100,
               n_val: int = 16) -> tuple[list[Item], list[Pair], dict[str, list[str]], dict[str, str]]:
    """The authors' regime: fixed training pairs over few songs, held-out images for test and validation.

    `music` are the training pairs (one item per pair, id = pair id), `songs` maps each to its song.
    Returns the music items (the training pairs, then one item per held-out image, id
    `heldout-<image id>`, holding the most similar song), the pairs, the split, and the song of
    every music item.
    """
    if not music or not images:
        raise UserError(f"pairing needs music and images; got {len(music)} music items and {len(images)} images")
    images = sorted(images, key=lambda item: item.id)
    if len(images) <= n_test + n_val:
        raise UserError(f"cannot hold out {n_test} test + {n_val} validation images from {len(images)} images")
    order = np.random.default_rng(seed).permutation(len(images))
    held = {"test": [images[i] for i in order[:n_test]], "val": [images[i] for i in order[n_test : n_test + n_val]]}
    remaining = [images[i] for i in sorted(order[n_test + n_val :])]

    by_song: dict[str, list[Item]] = {}
    for item in sorted(music, key=lambda item: item.id):
        by_song.setdefault(songs[item.id], []).append(item)
    pairs = []
    for pieces in by_song.values():
        nearest = _by_similarity(pieces[0], remaining)
        nearest *= -(-len(pieces) // len(nearest))  # a song with more pairs than images starts over
        pairs += [Pair(item, image, similarity(image, item)) for item, image in zip(pieces, nearest)]

    pairs.sort(key=lambda pair: pair.music.id)  # the source's pair order, so "the first N pairs" mixes songs
    items, song_of = list(music), dict(songs)
    split = {"train": sorted(item.id for item in music), "val": [], "test": []}
    for name in ("test", "val"):
        for image in held[name]:
            song = min(by_song, key=lambda key: (-similarity(image, by_song[key][0]), by_song[key][0].id))
            first = by_song[song][0]
            item = Item(f"heldout-{image.id}", first.path, first.valence, first.arousal)
            items.append(item)
            song_of[item.id] = song
            pairs.append(Pair(item, image, similarity(image, item)))
            split[name].append(item.id)
    return items, pairs, {name: sorted(ids) for name, ids in split.items()}, song_of
