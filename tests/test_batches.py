"""Prefix batches: one song = one batch of (image, left-padded prefix) -> next token, padded to length buckets."""

import numpy as np
import pytest
from conftest import SEED

from img2music_tf.batches import (
    PAD_ID,
    Song,
    SongBatches,
    epoch_order,
    lead_with_two_lengths,
    pad_prefixes,
    padded_length,
    group_shapes,
    song_groups,
    song_samples,
)


def test_song_of_n_tokens_gives_n_minus_1_left_padded_samples():
    tokens, targets = song_samples([1, 5, 7, 2], max_len=4, bucket=None)  # the authors' padding to max_len
    assert tokens.dtype == np.int32 and targets.dtype == np.int32
    np.testing.assert_array_equal(tokens, [[0, 0, 0, 1], [0, 0, 1, 5], [0, 1, 5, 7]])
    np.testing.assert_array_equal(targets, [5, 7, 2])


def test_prefixes_are_padded_to_the_longest_one_rounded_up_to_a_bucket_at_most_max_len():
    assert [padded_length(n, max_len=236) for n in (2, 33, 34, 80, 200, 236, 400)] == [32, 32, 64, 96, 224, 236, 236]
    assert padded_length(80, max_len=236, bucket=None) == 236
    ids = list(range(1, 11))  # 10 ids: 9 samples, longest prefix 9 ids
    tokens, targets = song_samples(ids, max_len=236, bucket=4)
    assert tokens.shape == (9, 12)
    np.testing.assert_array_equal(tokens, song_samples(ids, max_len=236, bucket=None)[0][:, -12:])
    np.testing.assert_array_equal(targets, ids[1:])


def test_padding_rows_fill_the_batch_to_a_bucket_with_a_valid_prefix_and_a_pad_target():
    tokens, targets = song_samples([3, 5, 7, 2], max_len=236, bucket=4, batch_bucket=8)
    assert tokens.shape == (8, 4)
    np.testing.assert_array_equal(targets, [5, 7, 2] + [PAD_ID] * 5)
    np.testing.assert_array_equal(tokens[3:], [[0, 0, 0, 3]] * 5)  # ids[:1]: never an all-padding prefix


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


@pytest.mark.parametrize(("bucket", "batch_bucket"), [(None, None), (2, None), (2, 4)])
def test_each_batch_is_one_whole_song_with_its_image_repeated(bucket, batch_bucket):
    songs = _songs()
    data = SongBatches(songs, max_len=6, seed=SEED, bucket=bucket, batch_bucket=batch_bucket)
    assert len(data) == 5 and data.num_samples == sum(len(s.ids) - 1 for s in songs)
    seen = []
    for index in range(len(data)):
        (inputs,), targets = data[index]  # one row group: the whole song
        song = data.song_at(index)
        seen.append(song.id)
        rows = len(song.ids) - 1 if batch_bucket is None else -(-(len(song.ids) - 1) // batch_bucket) * batch_bucket
        length = 6 if bucket is None else min(6, -(-(len(song.ids) - 1) // bucket) * bucket)
        assert inputs["tokens"].shape == (rows, length)
        assert inputs["image"].shape == (rows, 8)
        np.testing.assert_array_equal(inputs["image"], np.tile(song.feature, (rows, 1)))
        np.testing.assert_array_equal(targets[: len(song.ids) - 1], song.ids[1:])
        assert (targets[len(song.ids) - 1 :] == PAD_ID).all()
    assert sorted(seen) == sorted(s.id for s in songs)


def test_first_of_each_layout_names_one_song_per_batch_shape_in_the_order_the_epoch_meets_them():
    songs = _songs()  # 3, 5, 4, 6, 2 ids
    data = SongBatches(songs, max_len=6, seed=SEED, bucket=2, batch_bucket=2)
    met = [tuple(item[0][0]["tokens"].shape) for item in (data[index] for index in range(len(data)))]
    firsts = data.first_of_each_layout()
    assert [tuple(data.shapes[position][0]) for position in firsts] == list(dict.fromkeys(met))
    assert len(firsts) == 3  # (2, 2) for 2-3 ids, (4, 4) for 4-5 ids, (6, 6) for 6 ids


def test_one_shape_pads_every_batch_to_the_largest_songs_shape_with_padding_rows():
    songs = _songs()  # 2 to 6 ids
    data = SongBatches(songs, max_len=6, shuffle=False, bucket=2, batch_bucket=2, one_shape=True)
    assert data.largest == [(6, 6)]  # the 6-id song: 5 rows rounded up to 6, prefixes of 5 rounded up to 6
    for index in range(len(data)):
        ((inputs,), targets), song = data[index], data.song_at(index)
        assert inputs["tokens"].shape == (6, 6) and inputs["image"].shape == (6, 8)
        own, own_targets = song_samples(song.ids, max_len=6, bucket=2)
        np.testing.assert_array_equal(inputs["tokens"][: len(own), -own.shape[1] :], own)
        assert not inputs["tokens"][: len(own), : -own.shape[1]].any()  # only left padding added
        np.testing.assert_array_equal(targets[: len(own)], own_targets)
        assert (targets[len(own) :] == PAD_ID).all()


def test_row_groups_hold_the_samples_in_order_each_padded_to_a_length_set_by_its_index():
    ids = list(range(1, 12))  # 11 ids: samples 1..10
    assert group_shapes(11, max_len=236, bucket=4, group_rows=4) == [(4, 4), (4, 8), (2, 12)]
    assert group_shapes(11, max_len=10, bucket=4, batch_bucket=4, group_rows=4) == [(4, 4), (4, 8), (4, 10)]
    groups, targets = song_groups(ids, max_len=236, bucket=4, group_rows=4)
    whole, whole_targets = song_samples(ids, max_len=236, bucket=4)  # (10, 12)
    assert [g.shape for g in groups] == [(4, 4), (4, 8), (2, 12)]
    for group, first in zip(groups, (0, 4, 8)):  # the same prefixes with less left padding
        np.testing.assert_array_equal(group, whole[first : first + len(group), -group.shape[1] :])
        assert not whole[first : first + len(group), : -group.shape[1]].any()
    np.testing.assert_array_equal(targets, whole_targets)
    # given shapes add padding rows, and whole groups of them
    groups, targets = song_groups([3, 5, 7], max_len=236, bucket=4, group_rows=4, shapes=[(4, 4), (2, 8)])
    np.testing.assert_array_equal(groups[0], [[0, 0, 0, 3], [0, 0, 3, 5], [0, 0, 0, 3], [0, 0, 0, 3]])
    np.testing.assert_array_equal(groups[1], [[0] * 7 + [3]] * 2)
    np.testing.assert_array_equal(targets, [5, 7] + [PAD_ID] * 4)


def test_every_item_has_as_many_groups_as_the_longest_song_the_missing_ones_empty():
    songs = _songs()  # 2 to 6 ids: 1 to 5 samples
    data = SongBatches(songs, max_len=6, shuffle=False, bucket=2, group_rows=2)
    for index in range(len(data)):
        groups, targets = data[index]
        song = data.song_at(index)
        assert [g["tokens"].shape for g in groups] == group_shapes(len(song.ids), 6, 2, None, 2) + [
            (0, length) for length in (2, 4, 6)[len(group_shapes(len(song.ids), 6, 2, None, 2)) :]]
        assert all(g["image"].shape == (len(g["tokens"]), 8) for g in groups)
        np.testing.assert_array_equal(targets, song.ids[1:])
    one = SongBatches(songs, max_len=6, shuffle=False, bucket=2, batch_bucket=2, group_rows=2, one_shape=True)
    assert {tuple(g["tokens"].shape for g in one[i][0]) for i in range(len(one))} == {((2, 2), (2, 4), (2, 6))}


def test_the_first_two_batches_differ_in_length_when_any_two_songs_do():
    # Keras (TensorFlow) fixes the dimensions its first two batches share; a fixed prefix length would fail.
    lengths = [32, 32, 32, 64, 32]
    np.testing.assert_array_equal(lead_with_two_lengths(np.array([0, 1, 2, 3, 4]), lengths), [0, 3, 2, 1, 4])
    np.testing.assert_array_equal(lead_with_two_lengths(np.array([3, 1, 2, 0]), lengths), [3, 1, 2, 0])
    np.testing.assert_array_equal(lead_with_two_lengths(np.array([0, 1, 2]), [32] * 3), [0, 1, 2])
    data = SongBatches(_songs(), max_len=6, seed=SEED, bucket=1)
    for _ in range(4):
        assert data[0][0][0]["tokens"].shape[1] != data[1][0][0]["tokens"].shape[1]
        data.on_epoch_end()


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
