"""The paper's similarity score, nearest-image pairing with ties and exact matches, and the seeded split."""

from pathlib import Path

import numpy as np
import pytest
from conftest import SEED

from img2music_tf.data.items import Item
from img2music_tf.data.pairing import pair_by_emotion, pair_songs, similarity, split_ids
from img2music_tf.errors import UserError


def _item(item_id, valence, arousal):
    return Item(item_id, Path(f"/nowhere/{item_id}"), valence, arousal)


def test_similarity_is_inverse_va_distance():
    assert similarity(_item("x", 1, 1), _item("y", 4, 5)) == pytest.approx(1 / 5)  # 3-4-5 triangle
    assert similarity(_item("x", 5, 5), _item("y", 5, 5)) == float("inf")


def test_each_music_piece_gets_its_most_similar_image():
    images = [_item("b_calm", 3, 3), _item("a_happy", 8, 7), _item("c_angry", 2, 8)]
    music = [_item("m2", 7.5, 6.5), _item("m1", 2.5, 7.0), _item("m3", 3.2, 2.9)]
    pairs = pair_by_emotion(music, images)
    assert [(p.music.id, p.image.id) for p in pairs] == [("m1", "c_angry"), ("m2", "a_happy"), ("m3", "b_calm")]
    assert pairs[1].score == pytest.approx(similarity(images[1], music[0]))


def test_ties_go_to_the_lowest_image_id_and_exact_matches_do_not_crash():
    images = [_item("img_b", 5, 5), _item("img_a", 5, 5), _item("img_c", 4, 4)]
    pairs = pair_by_emotion([_item("m", 5, 5), _item("n", 5, 6)], images)
    assert [p.image.id for p in pairs] == ["img_a", "img_a"]  # images may repeat
    assert pairs[0].score == float("inf") and pairs[1].score == pytest.approx(1.0)


def test_pairing_needs_both_sides():
    with pytest.raises(UserError, match="needs music and images"):
        pair_by_emotion([_item("m", 5, 5)], [])


def test_split_sizes_disjoint_and_seeded():
    ids = [f"{n:04d}" for n in range(1, 301)]
    split = split_ids(ids, SEED)
    assert list(split) == ["train", "val", "test"]
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (184, 16, 100)
    assert sorted(split["train"] + split["val"] + split["test"]) == ids
    assert split_ids(list(reversed(ids)), SEED) == split  # input order does not matter
    assert split_ids(ids, SEED + 1)["test"] != split["test"]


def test_split_too_small_is_a_user_error():
    with pytest.raises(UserError, match=r"cannot split 116 items .*; give more items \(data prepare: or smaller --n-test"):
        split_ids([str(n) for n in range(116)], SEED)
    assert len(split_ids([str(n) for n in range(10)], SEED, n_test=2, n_val=1)["train"]) == 7


def _song_pairs():
    """Three songs behind 9 training pairs (ids 0001..0009), and 12 images spread over VA space."""
    va = {"A": (2.0, 2.0), "B": (8.0, 8.0), "C": (5.0, 5.0)}
    songs = {f"{k:04d}": "ABCAABACA"[k - 1] for k in range(1, 10)}
    music = [Item(pair, Path(f"{song}.mid"), *va[song]) for pair, song in songs.items()]
    images = [Item(f"img{k:02d}", Path(f"{k}.jpg"), 1 + k * 0.6, 1 + k * 0.6) for k in range(12)]
    return music, songs, images


def test_pair_songs_spreads_each_song_over_its_nearest_distinct_images_and_holds_out_images():
    music, songs, images = _song_pairs()
    items, pairs, split, song_of = pair_songs(music, songs, images, SEED, n_test=3, n_val=2)
    held = {pair.image.id for pair in pairs if pair.music.id.startswith("heldout-")}
    train_pairs = [pair for pair in pairs if pair.music.id in split["train"]]
    assert split["train"] == sorted(songs) and [p.music.id for p in train_pairs] == sorted(songs)
    assert len(split["test"]) == 3 and len(split["val"]) == 2 and len(held) == 5
    assert not held & {pair.image.id for pair in train_pairs}  # held-out images never train
    remaining = [image for image in images if image.id not in held]
    representative = {songs[item.id]: item for item in reversed(music)}
    for song, item in representative.items():
        used = {pair.image.id for pair in train_pairs if songs[pair.music.id] == song}
        nearest = sorted(remaining, key=lambda i: (np.hypot(i.valence - item.valence, i.arousal - item.arousal), i.id))
        assert used == {image.id for image in nearest[: len(used)]}  # its nearest distinct images
    for held_id in split["test"] + split["val"]:
        image = next(pair.image for pair in pairs if pair.music.id == held_id)
        best = min(representative, key=lambda s: np.hypot(representative[s].valence - image.valence,
                                                          representative[s].arousal - image.arousal))
        assert song_of[held_id] == best  # the most similar song


def test_pair_songs_reuses_images_when_a_song_has_more_pairs_than_images():
    music, songs, images = _song_pairs()
    items, pairs, split, _ = pair_songs(music, songs, images[:6], SEED, n_test=2, n_val=1)
    assert len([p for p in pairs if p.music.id in split["train"]]) == 9
    with pytest.raises(UserError, match="hold out"):
        pair_songs(music, songs, images[:3], SEED, n_test=2, n_val=1)
