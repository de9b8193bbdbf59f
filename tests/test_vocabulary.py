"""The vocabulary: sorted and deterministic, padding 0, lossless JSON round trip, clear errors."""

from __future__ import annotations

import json

import pytest

from img2music_tf.errors import UserError
from img2music_tf.vocabulary import PAD, Vocabulary

SEQUENCES = [
    ["<start>", "85.0@tempo", "4/4@time", "G4@2.75", "0.4.7@2.75", "r@1.25", "<end>"],
    ["<start>", "100.5@tempo", "3/4@time", "E-5@1/3", "e-5@1/3", "G4@2.75", "<end>"],
]


def test_build_is_sorted_with_padding_first():
    vocab = Vocabulary.build(SEQUENCES)
    distinct = {t for s in SEQUENCES for t in s}
    assert len(vocab) == len(distinct) + 1
    assert vocab.tokens[0] == PAD and vocab.pad_id == 0
    assert vocab.tokens[1:] == sorted(distinct)
    assert vocab.tokens[vocab.start_id] == "<start>" and vocab.tokens[vocab.end_id] == "<end>"


def test_build_does_not_depend_on_order():
    assert Vocabulary.build(SEQUENCES) == Vocabulary.build([list(reversed(s)) for s in reversed(SEQUENCES)])


def test_encode_decode_round_trip_keeps_case_and_every_token():
    vocab = Vocabulary.build(SEQUENCES)
    for sequence in SEQUENCES:
        assert vocab.decode(vocab.encode(sequence)) == sequence
    assert vocab.encode(["E-5@1/3"]) != vocab.encode(["e-5@1/3"])
    assert vocab.decode([vocab.start_id, 0, 0, vocab.end_id]) == ["<start>", "<end>"]  # padding dropped


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build(SEQUENCES)
    path = vocab.save(tmp_path / "run" / "vocabulary.json")
    assert Vocabulary.load(path) == vocab
    assert json.loads(path.read_text())["tokens"] == vocab.tokens


def test_unknown_token_and_bad_id_are_user_errors():
    vocab = Vocabulary.build(SEQUENCES)
    with pytest.raises(UserError, match="'C9@7.0' is not in the vocabulary"):
        vocab.encode(["<start>", "C9@7.0"])
    with pytest.raises(UserError, match="outside the vocabulary"):
        vocab.decode([len(vocab)])


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Vocabulary.load(tmp_path / "none.json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"word_index": {"a": 1}}')
    with pytest.raises(UserError, match="not an img2music_tf vocabulary"):
        Vocabulary.load(foreign)
    with pytest.raises(UserError, match="padding"):
        Vocabulary(["<start>", "<end>"])
