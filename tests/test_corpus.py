"""Tokenising a set of MIDI files: folder and zip sources, failures grouped, cache, workers, CLI."""

from __future__ import annotations

import json
import zipfile

import pytest

from img2music_tf import corpus
from img2music_tf.cli import main
from img2music_tf.corpus import corpus_report, failure_reason, read_midi_source, tokenize_source
from img2music_tf.errors import UserError
from test_tokens import CHORDS, MELODY, make_midi


@pytest.fixture
def midi_folder(tmp_path):
    """Two good files (one with two parts), one with chords only, one that is not MIDI."""
    folder = tmp_path / "set"
    folder.mkdir()
    make_midi(folder / "a.mid")
    make_midi(folder / "b.mid", parts=(MELODY, CHORDS), bpm=120.0)
    make_midi(folder / "c.mid", parts=(CHORDS,))
    (folder / "d.mid").write_bytes(b"not midi")
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_report_counts_tokens_and_groups_failures(midi_folder):
    results = tokenize_source(midi_folder, workers=1, progress=False)
    assert [r.name for r in results] == ["a", "b", "c", "d"]
    report = corpus_report(results)
    assert (report["files"], report["tokenised"], report["failed"]) == (4, 2, 2)
    assert report["failed_files"] == ["c", "d"]
    assert report["failures"] == {"no single note (the 8 kept bars start at the first bar holding a lone pitch; "
                                  "this file has only chords, drums or nothing)": 1,
                                  "cannot parse: MidiException": 1}
    a, b = results[0].tokens, results[1].tokens
    assert report["vocabulary"] == len(set(a) | set(b))
    assert report["longest"] == max(len(a), len(b))
    assert report["tokens"]["tempo"] == {"distinct": 2, "total": 2}
    assert report["tokens"]["chord"] == {"distinct": 2, "total": 2}
    assert report["tokens"]["note"]["total"] == 14


def test_second_run_reads_the_cache(midi_folder, monkeypatch):
    first = tokenize_source(midi_folder, workers=1, progress=False)

    def no_parsing(path):
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(corpus, "encode_midi", no_parsing)
    assert tokenize_source(midi_folder, workers=1, progress=False) == first


def test_zip_source_with_two_workers_matches_folder(midi_folder, tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("a", "b"):
            zipped.write(midi_folder / f"{name}.mid", f"dataset/{name}.mid")
    from_zip = tokenize_source(archive, workers=2, use_cache=False, progress=False)
    from_folder = tokenize_source(midi_folder, workers=1, progress=False)[:2]
    assert from_zip == from_folder


def test_bad_sources_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder or zip"):
        read_midi_source(tmp_path / "missing")
    with pytest.raises(UserError, match="no .mid or .midi files"):
        read_midi_source(tmp_path)
    text = tmp_path / "x.txt"
    text.write_text("x")
    with pytest.raises(UserError, match="neither a folder nor a zip"):
        read_midi_source(text)



def test_a_damaged_zip_source_is_a_user_error(midi_folder, tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(midi_folder / "a.mid", "a.mid")
    whole = archive.read_bytes()
    archive.write_bytes(whole[: len(whole) // 2])  # cut short by a copy
    with pytest.raises(UserError, match=r"set.zip is damaged or incomplete \(.+\): copy or write it again"):
        read_midi_source(archive)
    start = whole.index(b"MThd")  # the stored MIDI bytes: one flipped byte fails the member's checksum
    archive.write_bytes(whole[:start] + bytes([whole[start] ^ 0xFF]) + whole[start + 1 :])
    with pytest.raises(UserError, match=r"its part a.mid fails its checksum"):
        read_midi_source(archive)


def test_failure_reason_drops_file_names():
    assert failure_reason("cannot parse 0002.mid: IndexError: list index out of range") == \
        "cannot parse: IndexError"
    assert failure_reason("no tempo (MetronomeMark) in measures 0-3") == "no tempo (MetronomeMark) in measures 0-3"


def test_cli_report_encode_decode(midi_folder, tmp_path, capsys):
    report_json = tmp_path / "report.json"
    assert main(["tokens", "report", str(midi_folder), "--workers", "1", "--json", str(report_json)]) == 0
    out = capsys.readouterr().out
    assert "files tokenised: 2 of 4" in out and "[authors: 2884 of 3000]" in out
    assert json.loads(report_json.read_text())["tokenised"] == 2

    assert main(["tokens", "encode", str(midi_folder / "a.mid")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("<start> 100.0@tempo 4/4@time C4@1.0")
    tokens_file = tmp_path / "a.txt"
    tokens_file.write_text("a " + line)
    assert main(["tokens", "decode", str(tokens_file), "--out", str(tmp_path / "a2.mid")]) == 0
    capsys.readouterr()
    assert main(["tokens", "encode", str(tmp_path / "a2.mid")]) == 0
    assert capsys.readouterr().out.strip() == line

    assert main(["tokens", "encode", str(tmp_path / "missing.mid")]) == 2
    assert "no such MIDI file" in capsys.readouterr().err
    assert main(["tokens", "encode", str(midi_folder)]) == 2
    assert capsys.readouterr().err.strip().endswith("is a folder, not a MIDI file (`img2music tokens report` reads folders)")
