"""Memorisation: the longest token run a generated piece shares with a training song, checked by brute force."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SEED

from img2music_tf.memorisation import MIN_RUN, SongIndex, events


def brute_force(piece: list[str], songs: dict[str, list[str]]) -> tuple[int, set[str]]:
    """Longest common contiguous run of `piece` with any song, and every song that holds one that long."""
    best, holders = 0, set()
    piece = events(piece)
    for song_id, song in songs.items():
        song = events(song)
        longest = 0
        for i in range(len(piece)):
            for j in range(len(song)):
                k = 0
                while i + k < len(piece) and j + k < len(song) and piece[i + k] == song[j + k]:
                    k += 1
                longest = max(longest, k)
        if longest > best:
            best, holders = longest, {song_id}
        elif longest == best and longest:
            holders.add(song_id)
    return best, holders


def test_longest_run_matches_brute_force_on_random_songs():
    rng = np.random.default_rng(SEED)
    alphabet = [f"C{k}@1.0" for k in range(4)]  # few symbols: many partial matches
    for _ in range(30):
        songs = {f"s{k}": ["<start>", *rng.choice(alphabet, rng.integers(1, 25)), "<end>"] for k in range(4)}
        piece = ["<start>", *rng.choice(alphabet, rng.integers(0, 30)), "<end>"]
        copy = SongIndex(songs).longest_run(piece)
        run, holders = brute_force(piece, songs)
        assert copy.run == run
        assert (copy.song in holders) if run else copy.song is None


def test_a_copied_song_is_named_and_runs_never_cross_two_songs():
    songs = {"a": ["<start>", "x", "y", "<end>"], "b": ["<start>", "z", "w", "<end>"]}
    index = SongIndex(songs)
    assert index.longest_run(["<start>", "y", "z", "<end>"]).run == 1  # "y z" spans the join of a and b
    copy = index.longest_run(["<start>", "z", "w", "<end>"])
    assert (copy.song, copy.run, copy.share, copy.copied) == ("b", 2, 1.0, True)  # the whole piece: a copy
    long_song = [f"E{k % 7}@0.5" for k in range(40)]
    index = SongIndex({"long": long_song, "short": ["A4@1.0"]})
    piece = ["B2@2.0", *long_song[3 : 3 + MIN_RUN], "B2@2.0", *["C1@1.0"] * 30]
    copy = index.longest_run(piece)
    assert copy.song == "long" and copy.run == MIN_RUN and copy.copied and copy.share < 0.5
    assert not index.longest_run(["<start>", "<end>"]).copied


@pytest.mark.parametrize("repeats", [1, 3])
def test_a_collapsed_piece_copies_only_if_a_song_repeats_that_token_as_long(repeats):
    index = SongIndex({"rests": ["r@1.0"] * repeats + ["C4@1.0"] * 20})
    copy = index.longest_run(["<start>", *["r@1.0"] * 100, "<end>"])
    assert copy.run == repeats and not copy.copied


def test_summarize_counts_copies_distinct_and_one_token_pieces():
    song = [f"E{k}@0.5" for k in range(MIN_RUN + 2)]
    index = SongIndex({"s": ["<start>", *song, "<end>"]})
    pieces = [["<start>", *song, "<end>"], ["<start>", *song, "<end>"], ["<start>", "r@1.0", "r@1.0", "<end>"],
              ["<start>", "<end>"]]
    summary = index.summarize(pieces)
    assert summary == {"pieces": 4, "copied": 2, "songs_copied": ["s"], "distinct_pieces": 3, "one_token_pieces": 2}
