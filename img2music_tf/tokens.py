"""The authors' MIDI token language: what a token means, and tokens back to music (Section 3.3.2).

A sequence reads `<start> <bpm>@tempo <ratio>@time events... <end>` where an
event is a note `E-5@1/3`, a chord of normal-order pitch classes `0.4.7@0.25`
or a rest `r@1.5`; the part after `@` is music21's own quarterLength string
(fractions included). See docs/fidelity.md, rows "tokens" and "token ids".
MIDI files become tokens in `tokenizer`.

Decoding lays events one after another (offset += duration), as the authors'
generator does: notes that sounded together in different parts become
sequential; chords sound in octave 4 (pitch class + 60). This lossy round trip
is part of the method. Tokens of length 0 (music21 turns a MIDI note with no
duration into a grace note; about 7% of EIMG files have one) are valid but make
no sound.

Malformed tokens (a policy shared by every decoder here): they are skipped,
counted and reported by one `warnings.warn` per decoded sequence; `<start>` and
`<end>` carry no sound. `parse_token` itself raises `TokenizeError`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from img2music_tf.errors import UserError
from img2music_tf.files import atomic_path

START = "<start>"
END = "<end>"
CHORD_OCTAVE_MIDI = 60  # decoded chord notes sound in octave 4
VELOCITY = 90  # what music21 writes for a note without dynamics
MAX_TOKEN_BEATS = 1024  # the longest note, chord or rest a token may hold (EIMG's longest: a few bars)
MAX_DECODE_TOKENS = 10_000  # music21's MIDI writer takes time growing with the square of the length (25 s here)
MUSIC21_TICKS_PER_QUARTER = 10080  # music21's MIDI resolution

_NOTE = re.compile(r"^([A-G])(#{1,2}|-{1,2})?(-?\d+)$")
_CHORD = re.compile(r"^\d{1,2}(\.\d{1,2})*$")
_TIME = re.compile(r"^(\d+)/(\d+)$")
_STEP = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ALTER = {None: 0, "#": 1, "##": 2, "-": -1, "--": -2}


class TokenizeError(UserError):
    """A MIDI file that cannot be tokenised, or a token that cannot be read; says why."""


@dataclass(frozen=True)
class Event:
    """One token, decoded.

    `pitches` are MIDI numbers (chords in octave 4); `quarter_length` is the
    duration in beats (0 for tempo, time and markers); `bpm` is set for tempo
    tokens and `time_signature` (e.g. "3/4") for time tokens.
    """

    kind: str
    pitches: tuple[int, ...] = ()
    quarter_length: float = 0.0
    bpm: float | None = None
    time_signature: str | None = None


def parse_token(token: str) -> Event:
    """Read one token; raise TokenizeError for a malformed one."""
    if token == START:
        return Event("start")
    if token == END:
        return Event("end")
    value, at, suffix = token.rpartition("@")
    if not at or not value:
        raise TokenizeError(f"malformed token {token!r}: expected VALUE@LENGTH, <start> or <end>")
    if suffix == "tempo":
        bpm = _number(token, value, allow_zero=False)
        return Event("tempo", bpm=bpm)
    if suffix == "time":
        match = _TIME.match(value)
        if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
            raise TokenizeError(f"malformed time signature token {token!r}")
        return Event("time", time_signature=value)
    length = _number(token, suffix, allow_zero=True)  # music21 makes 0-long grace notes; they are tokens too
    if length > MAX_TOKEN_BEATS:
        raise TokenizeError(f"malformed token {token!r}: longer than {MAX_TOKEN_BEATS} beats")
    if value == "r":
        return Event("rest", quarter_length=length)
    if _CHORD.match(value):
        classes = [int(pc) for pc in value.split(".")]
        if any(pc > 11 for pc in classes):
            raise TokenizeError(f"malformed chord token {token!r}: pitch classes run 0-11")
        return Event("chord", pitches=tuple(CHORD_OCTAVE_MIDI + pc for pc in classes),
                     quarter_length=length)
    match = _NOTE.match(value)
    if match:
        step, alter, octave = match.groups()
        midi = 12 * (int(octave) + 1) + _STEP[step] + _ALTER[alter]
        if 0 <= midi <= 127:
            return Event("note", pitches=(midi,), quarter_length=length)
    raise TokenizeError(f"malformed token {token!r}: not a note, chord, rest, tempo or time")


def _number(token: str, text: str, allow_zero: bool) -> float:
    try:
        number = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise TokenizeError(f"malformed token {token!r}: {text!r} is not a number") from None
    if number < 0 or (number == 0 and not allow_zero):
        raise TokenizeError(f"malformed token {token!r}: {text!r} must be {'>= 0' if allow_zero else 'positive'}")
    return number


def parse_tokens(tokens: Iterable[str], strict: bool = False) -> list[Event]:
    """Decode a sequence: malformed tokens are skipped, counted and reported by one warning (a model's output
    may hold a stray one), or with `strict` (a user's file) refused by one TokenizeError naming them."""
    events, bad = [], []
    for token in tokens:
        try:
            events.append(parse_token(token))
        except TokenizeError:
            bad.append(token)
    if bad:
        shown = ", ".join(repr(token) for token in bad[:3]) + (", ..." if len(bad) > 3 else "")
        if strict:
            raise TokenizeError(f"{len(bad)} malformed token(s): {shown} (each is VALUE@LENGTH with a length of "
                                f"0 to {MAX_TOKEN_BEATS} beats, <start> or <end>)")
        warnings.warn(f"skipped {len(bad)} malformed token(s): {shown}", stacklevel=3)
    return events


def _quarter_length(token_length: float) -> Fraction | float:
    """The duration music21 would store for a token's length (exact thirds/twelfths as Fractions)."""
    from music21.common import opFrac

    return opFrac(Fraction(token_length).limit_denominator(10000))


def timeline(tokens: Iterable[str]) -> list[tuple[Fraction | float, Event]]:
    """(offset in beats, event) pairs: each note, chord and rest starts where the previous one ends."""
    placed, offset = [], 0.0
    for event in parse_tokens(tokens):
        placed.append((offset, event))
        if event.kind in ("note", "chord", "rest"):
            offset = offset + _quarter_length(event.quarter_length)
    return placed


def sounding_seconds(tokens: Iterable[str]) -> float:
    """Seconds from the start to the end of the last note or chord, at the tempo tokens' bpm (120, MIDI's
    default, before the first or without one); 0 for a piece without a note."""
    seconds, end, bpm = 0.0, 0.0, 120.0
    for event in parse_tokens(tokens):
        if event.kind == "tempo":
            bpm = event.bpm
        elif event.kind in ("note", "chord", "rest"):
            seconds += float(_quarter_length(event.quarter_length)) * 60.0 / bpm
            if event.kind != "rest" and event.quarter_length > 0:
                end = seconds
    return end


def tokens_to_stream(tokens: Iterable[str]):
    """A music21 Part (piano; tempo and time signature tokens kept where they occur), events end to end."""
    from music21 import chord, instrument, meter, note, stream, tempo

    part = stream.Part()
    part.insert(0, instrument.Piano())
    for offset, event in timeline(tokens):
        length = _quarter_length(event.quarter_length)
        if event.kind in ("note", "chord", "rest") and length == 0:
            continue  # a 0-long (grace) token makes no sound
        if event.kind == "tempo":
            part.insert(offset, tempo.MetronomeMark(number=event.bpm))
        elif event.kind == "time":
            part.insert(offset, meter.TimeSignature(event.time_signature))
        elif event.kind == "rest":
            part.insert(offset, note.Rest(quarterLength=length))
        elif event.kind == "chord":
            part.insert(offset, chord.Chord([note.Note(midi=p) for p in event.pitches], quarterLength=length))
        elif event.kind == "note":
            part.insert(offset, note.Note(midi=event.pitches[0], quarterLength=length))
    return part


def write_midi(tokens: Iterable[str], path: str | Path) -> Path:
    """Write tokens as a piano MIDI file (music21's writer, 10080 ticks per beat), atomically."""
    from music21.midi.translate import streamToMidiFile

    midi_file = streamToMidiFile(tokens_to_stream(tokens))
    with atomic_path(path) as tmp:
        midi_file.open(str(tmp), "wb")
        try:
            midi_file.write()
        finally:
            midi_file.close()
    return Path(path)


def _ticks(offset, resolution: int) -> int:
    """music21's tick for `offset` beats (round(beats * 10080)), rescaled as muspy does (round)."""
    return round(int(round(offset * MUSIC21_TICKS_PER_QUARTER)) * resolution / MUSIC21_TICKS_PER_QUARTER)


def tokens_to_notes(tokens: Iterable[str], resolution: int = 480) -> np.ndarray:
    """Rows (onset tick, pitch, duration tick, velocity) at `resolution` ticks per beat.

    Equal to `muspy.to_note_representation` of `muspy.read_midi(write_midi(tokens))`
    after `adjust_resolution(resolution)`, computed without writing a file: music21
    writes ticks = round(beats * 10080) from tick 0, velocity 90; muspy rescales
    onset and end separately with round(); rows sorted by (onset, pitch, duration, velocity).
    """
    return _note_rows(timeline(tokens), resolution)


def _note_rows(placed: list[tuple[Fraction | float, Event]], resolution: int) -> np.ndarray:
    rows = []
    for offset, event in placed:
        if event.kind in ("note", "chord") and event.quarter_length > 0:
            onset = _ticks(offset, resolution)
            end = _ticks(offset + _quarter_length(event.quarter_length), resolution)
            rows.extend((onset, midi, end - onset, VELOCITY) for midi in event.pitches)
    rows.sort()
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def tokens_to_music(tokens: Iterable[str], resolution: int = 480):
    """A muspy.Music: one piano track with the notes of `tokens_to_notes`, tempos and time signatures
    where their tokens occur (120 bpm when there is none, the MIDI default)."""
    import muspy

    placed = timeline(tokens)
    tempos = [muspy.Tempo(time=_ticks(o, resolution), qpm=e.bpm) for o, e in placed if e.kind == "tempo"]
    signatures = [
        muspy.TimeSignature(time=_ticks(o, resolution), numerator=int(e.time_signature.split("/")[0]),
                            denominator=int(e.time_signature.split("/")[1]))
        for o, e in placed if e.kind == "time"
    ]
    notes = [muspy.Note(time=int(t), pitch=int(p), duration=int(d), velocity=int(v))
             for t, p, d, v in _note_rows(placed, resolution)]
    track = muspy.Track(program=0, is_drum=False, name="Piano", notes=notes)
    return muspy.Music(resolution=resolution, tempos=tempos or [muspy.Tempo(time=0, qpm=120.0)],
                       time_signatures=signatures, tracks=[track])
