"""Prefix batches: one song = one batch of (image, left-padded prefix) -> next token."""

import numpy as np
import pytest
from conftest import SEED

from img2music_tf.batches import Song, SongBatches, epoch_order, pad_prefixes, song_samples


def test_song_of_n_tokens_gives_n_minus_1_left_padded_samples():
    tokens, targets = song_samples([1, 5, 7, 2], max_len=4)
    assert tokens.dtype == np.int32 and targets.dtype == np.int32
    np.testing.assert_array_equal(tokens, [[0, 0, 0, 1], [0, 0, 1, 5], [0, 1, 5, 7]])
    np.testing.assert_array_equal(targets, [5, 7, 2])


def test_long_prefixes_keep_their_last_ids():
    # Keras pad_sequences' default truncating='pre': the most recent tokens survive.
    np.testing.assert_array_equal(pad_prefixes([[1, 2, 3, 4, 5], [9]], max_len=3), [[3, 4, 5], [0, 0, 9]])


def test_epoch_order_is_a_permutation_fixed_by_seed_and_epoch():
    first = epoch_order(20, SEED, 0)
    assert sorted(first) == list(range(20))
    np.testing.assert_array_equal(first, epoch_order(20, SEED, 0))
    assert not np.array_equal(first, epoch_order(20, SEED, 1))
    assert not np.array_equal(first, epoch_order(20, SEED + 1, 0))
    np.testing.assert_array_equal(epoch_order(5, SEED, 3, shuffle=False), np.arange(5))


def _songs():
    rng = np.random.default_rng(SEED)
    lengths = [3, 5, 4, 6, 2]
    return [
        Song(f"s{k}", rng.normal(size=8).astype(np.float32), tuple(rng.integers(1, 30, size=n).tolist()))
        for k, n in enumerate(lengths)
    ]


def test_each_batch_is_one_whole_song_with_its_image_repeated():
    songs = _songs()
    data = SongBatches(songs, max_len=6, seed=SEED)
    assert len(data) == 5 and data.num_samples == sum(len(s.ids) - 1 for s in songs)
    seen = []
    for index in range(len(data)):
        inputs, targets = data[index]
        song = data.song_at(index)
        seen.append(song.id)
        assert inputs["tokens"].shape == (len(song.ids) - 1, 6)
        assert inputs["image"].shape == (len(song.ids) - 1, 8)
        np.testing.assert_array_equal(inputs["image"], np.tile(song.feature, (len(targets), 1)))
        np.testing.assert_array_equal(targets, song.ids[1:])
    assert sorted(seen) == sorted(s.id for s in songs)


def test_on_epoch_end_reshuffles_and_start_epoch_replays_the_same_order():
    songs = _songs()
    straight = SongBatches(songs, max_len=6, seed=SEED)
    orders = []
    for _ in range(3):
        orders.append([straight.song_at(i).id for i in range(len(straight))])
        straight.on_epoch_end()
    assert len({tuple(o) for o in orders}) > 1
    resumed = SongBatches(songs, max_len=6, seed=SEED, start_epoch=2)
    assert [resumed.song_at(i).id for i in range(len(resumed))] == orders[2]


def test_songs_without_a_next_token_are_left_out():
    one = Song("short", np.zeros(2, np.float32), (1,))
    with pytest.raises(ValueError):
        SongBatches([one], max_len=4)
    data = SongBatches([one, Song("ok", np.zeros(2, np.float32), (1, 2))], max_len=4)
    assert len(data) == 1
