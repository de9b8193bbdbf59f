"""Token maps (img2music_tf/study/token_maps.py): another process's id -> token map, re-reading, the measurement."""

from __future__ import annotations

import dataclasses
import json
import math
import runpy
import shutil
import sys

import pytest
from conftest import REPO
from run_fixtures import TOKENS

from img2music_tf.errors import UserError
from img2music_tf.experiments import SCALES
from img2music_tf.loops import LOOP_TYPES
from img2music_tf.paths import shown
from img2music_tf.run_folder import RunInfo, write_test_tokens
from img2music_tf.study import token_maps
from img2music_tf.study.pipeline import prepare_data, trained_songs
from img2music_tf.vocabulary import PAD, Vocabulary

OWN = Vocabulary([PAD, "0.4.7@1.0", "<end>", "<start>", "C4@1.0", "E4@1.0"])
OTHER = Vocabulary([PAD, "E4@1.0", "<start>", "<end>", "0.4.7@1.0", "C4@1.0"])  # what OWN's ids 1..5 read as here
SCALE = dataclasses.replace(SCALES["tiny"], n_items=6, n_test=2, n_val=1)  # the built-in data, prepared in seconds


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The built-in data at SCALE, prepared as a reproduction prepares it (seed 0), shared by the module."""
    return prepare_data("builtin", "builtin", tmp_path_factory.mktemp("token_maps") / "prepared", SCALE)


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


@pytest.mark.parametrize("tokens", [["<start>", "0.4.7@1.0", "C4@1.0", "E4@1.0", "C4@1.0", "<end>"],
                                    ["<start>", "E4@1.0", "E4@1.0"]])
def test_rereading_through_the_own_map_gives_the_piece_back_to_its_end(tokens):
    assert token_maps.reread(tokens, OWN, OWN) == tokens


@pytest.mark.parametrize(("token", "read_as"), [("0.4.7@1.0", "E4@1.0"), ("C4@1.0", "0.4.7@1.0"),
                                                ("E4@1.0", "C4@1.0")])
def test_each_emitted_id_reads_as_the_other_maps_token_of_that_id(token, read_as):
    # OWN's ids 1, 4, 5 are OTHER's E4, 0.4.7, C4
    assert token_maps.reread(["<start>", token, "<end>"], OWN, OTHER) == ["<start>", read_as, "<end>"]


def test_a_piece_that_does_not_start_with_start_is_refused():
    with pytest.raises(UserError, match="starts with"):
        token_maps.reread(["C4@1.0"], OWN, OTHER)


def test_chord_shares_count_distinct_and_played_chords_of_three_notes():
    shares = token_maps.chord_shares([["<start>", "0.4.7@1.0", "C4@1.0", "C4@1.0", "0.4@0.0", "r@1.0", "<end>"]])
    assert shares["tokens"] == 6 and shares["sounding_tokens"] == 2 and shares["chords_of_3_or_more"] == 1
    assert shares["vocabulary_share"] == 0.5 and shares["frequency_share"] == pytest.approx(1 / 3)
    assert shares["share_of_all_tokens"] == pytest.approx(1 / 6)


def test_the_measurement_on_a_tiny_run_scores_its_pieces_as_generated_and_reread(tiny_run, prepared, tmp_path):
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


def _table(tiny_run, prepared, work, vocabulary_sha256: str) -> dict:
    """A table result made elsewhere: one run of the built-in data at SCALE, whose recorded prepared folder is not
    here; its settings name the work folder `work`; its pieces are its first training song, once per test pair."""
    config = RunInfo.read(tiny_run).to_dict()
    config.update(data={"prepared": str(work.parent / "elsewhere" / "prepared")}, vocabulary_sha256=vocabulary_sha256)
    song = next(iter(trained_songs(prepared).values()))
    pieces = [{"tokens": " ".join(song)} for _ in prepared.pairs_in("test")]
    entry = {"run": "runs/elsewhere/run", "run_config": config, "epoch": 1, "pieces": pieces}
    settings = {"data": "builtin", "scale_sizes": dataclasses.asdict(SCALE), "work": str(work), "seeds": [0],
                "fidelity": "paper"}
    return {"settings": settings, "rows": {"Trans_enc3_dec3": {"seeds": [entry]}}}


def test_a_table_whose_prepared_data_is_not_here_prepares_its_settings_data_once(tiny_run, prepared, tmp_path,
                                                                                  capsys):
    vocabulary = Vocabulary.build(trained_songs(prepared).values())
    table = _table(tiny_run, prepared, tmp_path / "work", vocabulary.sha256)
    out = tmp_path / "work" / "builtin-items6-test2-val1" / "prepared"  # as the reproduction's Context names it
    first = token_maps.measure_table(table, [1])
    said = capsys.readouterr().out.strip().splitlines()
    assert len(said) == 1 and "not here" in said[0] and said[0].endswith(f"{shown(out)} (reused once there)")
    assert first[0]["prepared"] == shown(out) and first[0]["generated"]["n"] == len(prepared.pairs_in("test"))
    for name in ("pairs.csv", "split.json"):  # the data the table's run was trained on, as its sha256 said
        assert (out / name).read_bytes() == (prepared.out / name).read_bytes()
    stamp = (out / "pairs.csv").stat().st_mtime_ns
    again = token_maps.measure_table(table, [1])  # reused, not prepared again
    assert json.dumps(again) == json.dumps(first) and (out / "pairs.csv").stat().st_mtime_ns == stamp


def test_a_table_whose_vocabulary_the_data_does_not_give_is_refused(tiny_run, prepared, tmp_path):
    table = _table(tiny_run, prepared, tmp_path / "work", "0" * 64)
    with pytest.raises(UserError, match="another vocabulary"):
        token_maps.measure_table(table, [1])
    with pytest.raises(UserError, match="another vocabulary"):  # a folder named instead is checked the same way
        token_maps.measure_table(table, [1], prepared=prepared.out)


def _script(argv, monkeypatch) -> int:
    monkeypatch.setattr(sys, "argv", ["token_maps.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(REPO / "reproduce" / "token_maps.py"), run_name="__main__")
    return stopped.value.code


def test_the_script_explains_itself(monkeypatch, capsys):
    assert _script(["--help"], monkeypatch) == 0
    assert "--run" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "words"), [(["--maps", "0"], "--maps"), (["--run", "MISSING"], "MISSING"),
                                             (["--table", str(REPO / "setup.cfg")], "not a table result")])
def test_the_script_refuses_a_bad_argument_in_one_line(argv, words, monkeypatch, capsys, tmp_path):
    assert _script([*argv, "--out", str(tmp_path / "out")], monkeypatch) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("img2music: error: ") and words in err
    assert not (tmp_path / "out").exists()
