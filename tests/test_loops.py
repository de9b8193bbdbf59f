"""Loop types of token sequences (img2music_tf/loops.py), on hand-written pieces."""

from __future__ import annotations

import pytest

from img2music_tf.loops import CHORD_LOOP, DYAD, LOOP_TYPES, NO_NOTES, ONE_PITCH, VARIED, loop_type, sounding_sets
from img2music_tf.tokens import TokenizeError

HEAD = ["<start>", "120.0@tempo", "4/4@time"]


@pytest.mark.parametrize(
    "events, expected",
    [
        ([], NO_NOTES),
        (["r@0.25"] * 10, NO_NOTES),
        (["C4@0.0"] * 3, NO_NOTES),  # grace notes make no sound
        (["E4@1.0"] * 50, ONE_PITCH),
        (["E4@1.0", "4@0.5", "r@1.0"] * 5, ONE_PITCH),  # a one-class chord in octave 4 is E4 too
        (["0.4@1.0"] * 20, DYAD),
        (["0.4.7@0.25", "r@0.75"] * 20, CHORD_LOOP),
        (["0.3.6.9@1.75", "r@0.75"] * 117, CHORD_LOOP),
        (["C4@1.0", "C5@1.0"] * 10, VARIED),  # octaves count
        (["0.4@1.0", "0.4.7@1.0"], VARIED),
        (["G4@2.75", "0.4.7@2.75", "r@1.25", "5.9.0@1.0", "D4@0.5"], VARIED),
    ],
)
def test_loop_type_of_hand_written_pieces(events, expected):
    assert loop_type([*HEAD, *events, "<end>"]) == expected
    assert expected in LOOP_TYPES


def test_sounding_sets_keep_order_and_pitches():
    assert sounding_sets(HEAD + ["C4@1.0", "r@1.0", "0.4.7@1.0", "<end>"]) == [
        frozenset({60}), frozenset({60, 64, 67})]


def test_a_malformed_token_is_a_tokenize_error():
    with pytest.raises(TokenizeError, match="malformed token"):
        loop_type(["<start>", "C4"])
