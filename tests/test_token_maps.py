"""Token maps (img2music_tf/study/token_maps.py): another process's id -> token map, re-reading, the measurement."""

from __future__ import annotations

import math
import runpy
import shutil
import sys

import pytest
from conftest import REPO, SEED
from run_fixtures import TOKENS

from img2music_tf.data.prepare import prepare
from img2music_tf.errors import UserError
from img2music_tf.loops import LOOP_TYPES
from img2music_tf.run_folder import write_test_tokens
from img2music_tf.study import token_maps
from img2music_tf.vocabulary import PAD, Vocabulary

OWN = Vocabulary([PAD, "0.4.7@1.0", "<end>", "<start>", "C4@1.0", "E4@1.0"])
OTHER = Vocabulary([PAD, "E4@1.0", "<start>", "<end>", "0.4.7@1.0", "C4@1.0"])  # what OWN's ids 1..5 read as here


def test_another_process_map_moves_every_token_but_padding_and_keeps_each_once():
    vocabulary = Vocabulary.build([TOKENS])
    other = token_maps.process_vocabulary(vocabulary, 1)
    assert other.tokens[0] == PAD and sorted(other.tokens) == sorted(vocabulary.tokens)
    assert token_maps.process_vocabulary(vocabulary, 1) == other  # one hash seed, one map
    assert token_maps.process_vocabulary(vocabulary, 2) != other


def test_a_hash_seed_outside_its_range_is_refused():
    with pytest.raises(UserError, match="hash seed"):
        token_maps.process_vocabulary(OWN, -1)


@pytest.mark.parametrize(("tokens", "expected"), [
    # ids 1 1 5 (then the model's own <end>) read through OTHER: E4 E4 C4, ended where the model ended
    (["<start>", "0.4.7@1.0", "0.4.7@1.0", "E4@1.0", "<end>"], ["<start>", "E4@1.0", "E4@1.0", "C4@1.0", "<end>"]),
    # id 4 reads as 0.4.7, id 2 (the model's <end> elsewhere, mid-piece here: not emitted as a stop) as <start>:
    # left out; id 3 (the model's <start> id, emitted) reads as <end>: the piece ends there
    (["<start>", "C4@1.0", "<start>", "E4@1.0"], ["<start>", "0.4.7@1.0", "<end>"]),
    # a piece cut at the length limit (no <end>) stays open
    (["<start>", "E4@1.0", "E4@1.0"], ["<start>", "C4@1.0", "C4@1.0"]),
])
def test_rereading_reads_the_emitted_ids_through_the_other_map(tokens, expected):
    assert token_maps.reread(tokens, OWN, OTHER) == expected
    assert token_maps.reread(tokens[:1] + tokens[1:], OWN, OWN)[:2] == tokens[:2]


def test_a_piece_that_does_not_start_with_start_is_refused():
    with pytest.raises(UserError, match="starts with"):
        token_maps.reread(["C4@1.0"], OWN, OTHER)


def test_chord_shares_count_distinct_and_played_chords_of_three_notes():
    shares = token_maps.chord_shares([["<start>", "0.4.7@1.0", "C4@1.0", "C4@1.0", "0.4@0.0", "r@1.0", "<end>"]])
    assert shares["tokens"] == 6 and shares["sounding_tokens"] == 2 and shares["chords_of_3_or_more"] == 1
    assert shares["vocabulary_share"] == 0.5 and shares["frequency_share"] == pytest.approx(1 / 3)
    assert shares["share_of_all_tokens"] == pytest.approx(1 / 6)


def test_the_measurement_on_a_tiny_run_scores_its_pieces_as_generated_and_reread(tiny_run, tmp_path):
    prepared = prepare(music="builtin", images="builtin", out=tmp_path / "prep", n_music=6, n_images=4, n_test=2,
                       n_val=1, seed=SEED)
    run = shutil.copytree(tiny_run, tmp_path / "run")
    pieces = {pair.image.id: TOKENS for pair in prepared.pairs_in("test")}
    write_test_tokens(run, 1, pieces)
    measured = token_maps.measure_run(run, [1, 2, 3], prepared=prepared.out, epoch=1)
    generated = measured["generated"]
    assert measured["source"].endswith("test tokens stored in the run") and generated["n"] == 2
    assert generated["polyphony_rate"]["mean"] == 0.0 and generated["pitch_entropy"]["mean"] == pytest.approx(
        math.log2(3))
    assert generated["loop_types"] == {"varied": 2}
    assert [row["hash_seed"] for row in measured["maps"]] == [1, 2, 3]
    for row in measured["maps"]:
        assert row["n"] == 2 and sum(row["loop_types"].values()) == 2 and set(row["loop_types"]) <= set(LOOP_TYPES)
        polyphony = row["polyphony_rate"]["mean"]
        assert math.isnan(polyphony) or polyphony == 0.0  # the tiny vocabulary holds no chord
    spread = measured["spread"]["music_quality_loss"]
    assert spread["n_maps"] == 0 or spread["min"] <= spread["mean"] <= spread["max"]


def _script(argv, monkeypatch) -> int:
    monkeypatch.setattr(sys, "argv", ["token_maps.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(REPO / "reproduce" / "token_maps.py"), run_name="__main__")
    return stopped.value.code


def test_the_script_explains_itself(monkeypatch, capsys):
    assert _script(["--help"], monkeypatch) == 0
    assert "--run" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "words"), [(["--maps", "0"], "--maps"), (["--run", "MISSING"], "MISSING")])
def test_the_script_refuses_a_bad_argument_in_one_line(argv, words, monkeypatch, capsys, tmp_path):
    assert _script([*argv, "--out", str(tmp_path / "out")], monkeypatch) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("img2music: error: ") and words in err
    assert not (tmp_path / "out").exists()
