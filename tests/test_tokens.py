"""The token language: encoding tiny MIDI files, decoding, the muspy view, the authors' own sequences."""

from __future__ import annotations

import zipfile
from fractions import Fraction as F

import mido
import muspy
import numpy as np
import pretty_midi
import pytest

from img2music_tf.tokenizer import _normal_order, encode_midi
from img2music_tf.tokens import (
    Event, TokenizeError, parse_token, parse_tokens, tokens_to_music, tokens_to_notes, tokens_to_stream, write_midi,
)

# G major melody (G4 B4 D5 ...), 100 bpm; (pitch, start beat, beats)
MELODY = ((67, 0, 1), (71, 1, 1), (74, 2, 1), (72, 3, 0.5), (71, 3.5, 0.5), (69, 4, 2), (67, 6, 2))
CHORDS = ((55, 0, 4), (59, 0, 4), (62, 0, 4), (55, 4, 4), (60, 4, 4), (64, 4, 4))


def make_midi(path, parts=(MELODY,), bpm=100.0):
    """A small piano MIDI file, one instrument per part, written with pretty_midi."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    beat = 60 / bpm
    for notes in parts:
        piano = pretty_midi.Instrument(program=0)
        for pitch, start, length in notes:
            piano.notes.append(pretty_midi.Note(velocity=80, pitch=pitch, start=start * beat,
                                                end=(start + length) * beat))
        midi.instruments.append(piano)
    midi.write(str(path))
    return path


def test_encode_transposes_g_major_melody_to_c(tmp_path):
    tokens = encode_midi(make_midi(tmp_path / "melody.mid"))
    assert tokens == ["<start>", "100.0@tempo", "4/4@time", "C4@1.0", "E4@1.0", "G4@1.0", "F4@0.5",
                      "E4@0.5", "D4@2.0", "C4@2.0", "<end>"]


def test_encode_decode_encode_is_stable(tmp_path):
    """One round trip sequentialises parts; after that, decode + encode is a fixed point."""
    melody = encode_midi(make_midi(tmp_path / "melody.mid"))
    assert encode_midi(write_midi(melody, tmp_path / "melody2.mid")) == melody

    first = encode_midi(make_midi(tmp_path / "two_parts.mid", parts=(MELODY, CHORDS)))
    assert "0.4.7@4.0" in first and "5.9.0@4.0" in first  # C major and F major chords, normal order
    second = encode_midi(write_midi(first, tmp_path / "round1.mid"))
    third = encode_midi(write_midi(second, tmp_path / "round2.mid"))
    assert third == second


def test_encode_rejects_missing_and_broken_files(tmp_path):
    with pytest.raises(TokenizeError, match="no such MIDI file"):
        encode_midi(tmp_path / "missing.mid")
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd not really a midi file")
    with pytest.raises(TokenizeError, match="cannot parse broken.mid"):
        encode_midi(broken)


def test_encode_needs_a_single_note(tmp_path):
    only_chords = make_midi(tmp_path / "chords.mid", parts=(CHORDS,))
    with pytest.raises(TokenizeError, match="no single note"):
        encode_midi(only_chords)


def make_type1_midi(path, tracks, bpm=100.0, ticks_per_beat=480):
    """A type-1 MIDI file as EIMG's are: each track its own notes, time signatures where the track has them.

    `tracks`: (time signatures [(beat, numerator, denominator)], notes [(pitch, start beat, beats)]);
    the tempo goes into the first track (none with `bpm=None`).
    """
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for index, (signatures, notes) in enumerate(tracks):
        events = [(0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))] if index == 0 and bpm else []
        events += [(round(beat * ticks_per_beat), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d))
                   for beat, n, d in signatures]
        for pitch, start, length in notes:
            events.append((round(start * ticks_per_beat), 2, mido.Message("note_on", note=pitch, velocity=80)))
            events.append((round((start + length) * ticks_per_beat), 1, mido.Message("note_off", note=pitch)))
        track, last = mido.MidiTrack(), 0
        for tick, _, message in sorted(events, key=lambda e: e[:2]):
            track.append(message.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


BASS = ((48, 0, 2), (43, 2, 2), (48, 4, 1), (43, 5, 1), (48, 6, 2))  # C3 G2 C3 G2 C3, 4/4 (no time signature)


def test_a_file_without_a_tempo_reads_at_midis_default_120_bpm(tmp_path):
    """Many MIDI files from elsewhere set no tempo; a player plays them at 120 bpm, and so does the tokeniser."""
    without = encode_midi(make_type1_midi(tmp_path / "none.mid", [([], BASS)], bpm=None))
    with_120 = encode_midi(make_type1_midi(tmp_path / "120.mid", [([], BASS)], bpm=120.0))
    assert without == with_120 and without[1] == "120.0@tempo"


def test_a_chord_over_the_barline_moves_its_parts_later_bars_as_music21_8_did(tmp_path):
    """music21 8 kept the bar's length from before the chord was split at the barline (1.25 beats
    over 1), so the part's bar 2 starts at 4.25 instead of 4: its events there come after the bass's."""
    upper = ((60, 0, 1), (64, 1, 1), (67, 2, 1), (60, 3, 1.25), (64, 3, 1.25), (67, 3, 1.25), (72, 4.25, 1.75),
             (67, 6, 2))
    tokens = encode_midi(make_type1_midi(tmp_path / "chord.mid", [([], upper), ([], BASS)]))
    assert tokens[3:-1] == ["C4@1.0", "C3@2.0", "E4@1.0", "G4@1.0", "G2@2.0", "0.4.7@1.0",
                            "C3@1.0", "0.4.7@0.25",  # bass at 4, tied chord at 4.25 (music21 10: 4, before the bass)
                            "C5@1.75", "G2@1.0",
                            "C3@2.0", "G4@2.0"]  # bass at 6, G4 at 6.25 (music21 10: both at 6, part order)


def test_a_single_note_over_the_barline_moves_nothing(tmp_path):
    """Splitting a Note (not a Chord) clears the bar's cached length: bars stay in place, part order at ties."""
    upper = ((60, 0, 1), (64, 1, 1), (67, 2, 1), (60, 3, 1.25), (72, 4.25, 1.75), (67, 6, 2))
    tokens = encode_midi(make_type1_midi(tmp_path / "note.mid", [([], upper), ([], BASS)]))
    assert tokens[3:-1] == ["C4@1.0", "C3@2.0", "E4@1.0", "G4@1.0", "G2@2.0", "C4@1.0", "C4@0.25", "C3@1.0",
                            "C5@1.75", "G2@1.0", "G4@2.0", "C3@2.0"]


def test_music21_is_restored_after_encoding(tmp_path):
    from music21 import stream

    encode_midi(make_midi(tmp_path / "melody.mid"))
    assert "sortTuple" not in vars(stream.Stream)


SCALE = ((60, 0, 1), (64, 1, 1), (67, 2, 1), (60, 3, 1), (64, 4, 1), (67, 5, 1), (72, 6, 2))


def test_time_signature_is_the_last_in_the_kept_bars(tmp_path):
    """3/4 changing to 2/4 in bar 3 beside a 4/4 part: `2/4@time` (EIMG 1881, 2439, 0423 do this)."""
    changing = make_type1_midi(tmp_path / "changing.mid", [([(0, 3, 4), (6, 2, 4)], SCALE), ([], BASS)])
    assert encode_midi(changing)[2] == "2/4@time"


def test_time_signature_at_one_offset_is_the_last_parts(tmp_path):
    """3/4 in the first part, music21's default 4/4 in the second, both at 0: `4/4@time` (EIMG 0855)."""
    steady = make_type1_midi(tmp_path / "steady.mid", [([(0, 3, 4)], SCALE), ([], BASS)])
    assert encode_midi(steady)[2] == "4/4@time"


def test_bars_made_up_to_a_horizon_give_the_tokens_of_a_full_parse(tmp_path, monkeypatch):
    """Issue 14: music21 makes bars in quadratic time, so encoding first makes them only up to
    HORIZON_BEATS and widens it until the bars the tokens read are all there; notes after it still
    count for the key (here c# minor only through bars 5-28, so the piece moves to A minor)."""
    from img2music_tf import tokenizer

    upper = [(60 + (i % 3) * 4, i, 1) for i in range(11)] + [(60, 11, 1.25), (64, 11, 1.25), (67, 11, 1.25)]
    upper += [(72, 12.25, 3.75)] + [(p, 16 + 4 * k, 4) for k, p in enumerate([66, 68, 71, 73, 75, 76] * 4)]
    lower = [(c, 2 * k, 2) for k, c in enumerate([48, 43] * 8)] + [(52, 16 + 2 * k, 2) for k in range(48)]
    path = make_type1_midi(tmp_path / "long.mid", [([(0, 4, 4), (20, 3, 4)], upper), ([], lower)])
    full = encode_midi(path)  # 112 beats: below the default horizon, nothing is cut
    assert full[2:5] == ["3/4@time", "A-4@1.0", "A-3@2.0"] and len(full) == 40
    for horizon in (4.0, 12.0, 30.0):  # 4 and 12 need widening (bar 8 ends at beat 29)
        monkeypatch.setattr(tokenizer, "HORIZON_BEATS", horizon)
        assert encode_midi(path) == full


@pytest.mark.parametrize("pitch_classes, expected", [
    ([0, 4, 7], [0, 4, 7]),
    ([9, 0, 4], [9, 0, 4]),
    ([3, 6, 7, 11], [11, 3, 6, 7]),  # 4-19B: music21 10 says [3, 6, 7, 11]
    ([2, 5, 7, 10, 11], [2, 5, 7, 10, 11]),  # 5-32B: music21 10 says [10, 11, 2, 5, 7]
    ([0, 4, 8, 11], [4, 8, 11, 0]),  # 4-19B again: music21 10 says [8, 11, 0, 4]
])
def test_chord_normal_order_is_music21_8s(pitch_classes, expected):
    from music21 import chord

    assert _normal_order(chord.Chord(pitch_classes)) == expected


@pytest.mark.parametrize("token, event", [
    ("E-5@1/3", Event("note", (75,), 1 / 3)),
    ("C#4@0.25", Event("note", (61,), 0.25)),
    ("B#3@2.0", Event("note", (60,), 2.0)),
    ("0.4.7@0.25", Event("chord", (60, 64, 67), 0.25)),
    ("4@17/12", Event("chord", (64,), 17 / 12)),
    ("r@1.5", Event("rest", (), 1.5)),
    ("B3@0.0", Event("note", (59,), 0.0)),  # music21's grace notes: valid, silent
    ("100.5@tempo", Event("tempo", bpm=100.5)),
    ("6/8@time", Event("time", time_signature="6/8")),
    ("<start>", Event("start")),
    ("<end>", Event("end")),
])
def test_parse_token(token, event):
    assert parse_token(token) == event


@pytest.mark.parametrize("token", ["", "C4", "H4@1.0", "0@tempo", "C4@-1", "r@x", "12.4@1.0", "0/4@time",
                                   "fast@tempo", "c4@1.0", "C4@1/0", "<pad>"])
def test_parse_token_rejects_malformed(token):
    with pytest.raises(TokenizeError, match="malformed"):
        parse_token(token)


def test_malformed_tokens_are_skipped_counted_and_warned_once():
    with pytest.warns(UserWarning, match="skipped 2 malformed token"):
        events = parse_tokens(["<start>", "C4@1.0", "oops", "r@", "E4@0.5", "<end>"])
    assert [e.kind for e in events] == ["start", "note", "note", "end"]


SEQUENCE = ["<start>", "97.5@tempo", "3/4@time", "C4@1.0", "0.4.7@1/3", "r@0.5", "E-5@5/12", "B3@0.0",
            "4@0.25", "G#2@2.0", "<end>"]


def test_stream_lays_events_one_after_another():
    part = tokens_to_stream(SEQUENCE)
    spans = [(e.offset, e.quarterLength) for e in part.notesAndRests]
    assert spans == [(0, 1), (1, F(1, 3)), (F(4, 3), 0.5), (F(11, 6), F(5, 12)), (2.25, 0.25), (2.5, 2)]
    assert [p.midi for p in part.notesAndRests[1].pitches] == [60, 64, 67]  # chords in octave 4
    assert part.getElementsByClass("MetronomeMark")[0].number == 97.5


def test_notes_equal_what_muspy_reads_from_written_midi(tmp_path):
    path = write_midi(SEQUENCE, tmp_path / "x.mid")
    read = muspy.read_midi(path)
    for resolution in (480, 1024):
        expected = muspy.to_note_representation(read.deepcopy().adjust_resolution(resolution))
        np.testing.assert_array_equal(tokens_to_notes(SEQUENCE, resolution), expected)
    np.testing.assert_array_equal(muspy.to_note_representation(tokens_to_music(SEQUENCE)),
                                  muspy.to_note_representation(read.adjust_resolution(480)))
    assert read.tempos[0].qpm == pytest.approx(97.5, rel=1e-4)
    midi = pretty_midi.PrettyMIDI(str(path))
    assert sorted(n.pitch for n in midi.instruments[0].notes) == [44, 60, 60, 64, 64, 67, 75]
    assert midi.instruments[0].program == 0


def test_decoding_empty_or_soundless_sequences():
    assert tokens_to_notes(["<start>", "<end>"]).shape == (0, 4)
    music = tokens_to_music(["<start>", "<end>"])
    assert music.resolution == 480 and len(music.tracks[0].notes) == 0


# The authors' midiData.txt numbers image-music pairs (a song can repeat), not EIMG files.
AUTHORS_0003_START = "<start> 85.0@tempo 4/4@time G4@2.75 0.4.7@2.75 r@1.25 r@0.25 5.9.0@1.0 D4@0.5".split()
AUTHORS_0006 = """<start> 100.5@tempo 4/4@time 7.0@1/3 G3@2/3 C5@1/3 C5@0.25 4.7.9.0@1.5 G5@0.25 C6@1/3 G6@1/3
G6@0.25 C6@0.25 G5@1/3 G3@1/3 C5@1/3 B3@1/3 C5@0.25 C4@0.25 G5@0.25 G3@0.25 C6@1/3 B3@1/3 G6@1/3 C4@1/3
G6@0.25 D4@0.25 C6@0.25 C4@0.25 G5@1/3 B3@1/3 C5@1/3 C4@1/3 C5@0.25 E2@0.25 G5@0.25 C3@0.25 C6@1/3 G3@1/3
G6@1/3 C4@1/3 G6@0.25 F4@0.25 C6@0.25 E4@0.25 G5@1/3 D4@1/3 C5@1/3 C4@1.0 C5@0.25 G5@0.25 C6@1/3 G6@1/3
r@1/3 G6@0.25 G3@1/3 C6@0.25 G5@1/3 G3@1/3 C5@1/3 r@1/3 C5@0.25 F2@0.25 G5@0.25 C3@0.25 C6@1/3 G3@1/3
G6@1/3 B3@1/3 G6@0.25 C4@0.25 C6@0.25 D4@0.25 G5@1/3 G4@1.0 C5@1/3 C5@0.25 G5@0.25 C6@1/3 C4@1/3 G6@1/3
r@1/3 G6@0.25 G3@1/3 C6@0.25 G5@1/3 G3@2/3 C5@1/3 C5@0.25 G2@0.25 G5@0.25 D3@0.25 C6@1/3 G3@1/3 G6@1/3
A3@1/3 G6@0.25 B3@0.25 C6@0.25 C4@0.25 G5@1/3 D4@1.0 C5@1/3 C5@0.25 G5@0.25 C6@1/3 G3@1/3 G6@1/3 r@1/3
G6@0.25 G2@1/3 C6@0.25 G5@1/3 G2@2/3 C5@0.25 r@17/12 A2@0.25 E3@0.25 A3@1/3 B3@1/3 C4@0.25 D4@0.25 A4@1.0
G2@1/3 r@1/3 D3@0.5 G4@0.75 G3@1/3 r@1/3 A3@0.25 F4@0.25 B3@0.25 E4@1/3 C4@1/3 F4@1/3 r@1/3 E4@1.5 F2@0.25
C3@0.25 F3@1/3 G3@1/3 A3@0.25 B3@0.25 F4@1.0 E2@1/3 r@1/3 C3@0.5 E4@0.75 E3@1/3 r@1/3 F3@0.25 D4@0.25
G3@0.25 C4@1/3 A3@1/3 D4@1/3 r@1/3 C4@0.5 D2@0.5 r@17/6 r@17/6 <end>""".split()


AUTHORS_0007 = """<start> 70.0@tempo 4/4@time r@3.0 C2@0.5 G2@0.5 E3@1.0 G2@1.0 r@3.0 C2@0.5 G2@0.5 E3@1.0 G2@1.0
G4@2.75 C2@0.5 G2@0.5 E3@1.0 C2@0.5 B1@0.5 r@0.25 D5@1.0 A1@0.5 E2@0.5 C5@2.0 C3@0.5 E3@0.5 A3@1.0 B4@1.5
F2@0.5 C3@0.5 A3@2.0 A4@0.5 G4@0.5 F4@0.5 G4@2.0 E2@0.5 C3@0.5 G3@1.5 C4@0.5 r@0.5 r@2.5 <end>""".split()


@pytest.mark.integration
def test_authors_sequences_are_reproduced(eimg_source, tmp_path):
    """The authors' midiData.txt songs 0003, 0006 and 0007 are EIMG 2991, 2090 and 0855."""
    with zipfile.ZipFile(eimg_source / "dataset.zip") as archive:
        for name in ("2991", "2090", "0855"):
            (tmp_path / f"{name}.mid").write_bytes(archive.read(f"dataset/{name}.mid"))
    tokens = encode_midi(tmp_path / "2991.mid")
    assert tokens[:len(AUTHORS_0003_START)] == AUTHORS_0003_START
    assert len(tokens) == 46 and tokens[-3:] == ["r@2.75", "r@2.75", "<end>"]
    assert encode_midi(tmp_path / "2090.mid") == AUTHORS_0006  # needs the music21-8 import rules
    assert encode_midi(tmp_path / "0855.mid") == AUTHORS_0007  # 3/4 and 4/4 parts: the last one wins


def _hostile(path, kind):
    midi = mido.MidiFile(type=2 if kind == "format 2" else 1, ticks_per_beat=480)
    tracks = 300 if kind == "tracks" else 1
    for index in range(tracks):
        track = mido.MidiTrack()
        channel = 9 if kind == "drums" else 0
        length = 268_000_000 if kind == "endless note" else 480
        track += [mido.Message("note_on", note=60 + index % 12, velocity=80, channel=channel, time=0),
                  mido.Message("note_off", note=60 + index % 12, channel=channel, time=length)]
        midi.tracks.append(track)
    midi.save(str(path))
    return path


@pytest.mark.parametrize(("kind", "words"), [("format 2", "is MIDI format 2"), ("tracks", "has 300 tracks"),
                                             ("endless note", "beats; at most"), ("drums", "no pitched note")])
def test_hostile_or_unusable_files_are_refused_before_music21_reads_them(tmp_path, kind, words):
    with pytest.raises(TokenizeError, match=words):
        encode_midi(_hostile(tmp_path / "x.mid", kind))
