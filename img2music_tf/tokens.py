"""The authors' MIDI token language: encode a MIDI file to tokens, decode tokens to music.

A sequence reads `<start> <bpm>@tempo <ratio>@time events... <end>` where an
event is a note `E-5@1/3`, a chord of normal-order pitch classes `0.4.7@0.25`
or a rest `r@1.5`; the part after `@` is music21's own quarterLength string
(fractions included). See docs/fidelity.md, rows "tokens" and "token ids", and the paper, Sec. 3.3.2.

Encoding follows the authors' `midiData.txt` (their training pairs, already
tokenised; `data/authors.py` reads it): 69 of its 70 distinct songs are
reproduced token for token from EIMG files, e.g. their "0003", "0006" and
"0007" are EIMG `2991.mid`, `2090.mid` and `0855.mid` (their ids number
image-music pairs, and a song repeats). Details that matter:
  * The authors used music21 8. music21 10 pairs note-on/off events, quantises
    onsets and durations, and lays out bars differently, so parsing swaps in
    music21 8's three rules for the duration of the parse
    (`_music21_v8_import`). The bar rule: music21 8 cached every bar's length
    while sorting; a chord crossing a barline, split later, left its bar with
    the stale longer length, and the part's following bars were placed late by
    the overhang. Simultaneous events of different parts then interleave
    differently when flattened (654 EIMG files differ from music21 10 only in
    this order). With the three rules, the same steps run under music21 8.1
    itself give our tokens for all 2961 tokenisable EIMG files.
  * Chords are named by music21 8's normal order (`_normal_order`), which
    differs from music21 10's for 17 inverted set classes (4 EIMG files).
  * music21 10 prints a whole-number MetronomeMark as `85`, music21 8 as `85.0`;
    the tempo token always uses the float form.
  * Tempo: the last MetronomeMark in measures 0-3. Time signature: the last one
    in the 8 kept bars, flattened (EIMG 1881, 2439, 0423 change metre there).
    Rests longer than 2 bars of that time signature are dropped.
  * Bars are made only as far as the tokens read (`_bars_before`): music21's
    bar layout takes time quadratic in the number of bars, ours grows linearly
    with the file (a generated 40,000-note file: 7 s instead of 186 s).
  * Not reproduced: the authors' song of pairs 0076 etc. is EIMG 0423 without
    two rests (`r@1.25`, `r@0.25`, a part's bar-end rest and a gap rest) that
    music21 7.3, 8.1, 8.3 and 9.1 all make; we found no rule that drops them
    (datasets/authors/README.md lists the difference).

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

import contextlib
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from img2music_tf.errors import UserError

# Bump when `encode_midi` output can change: it keys the corpus cache.
TOKENIZER_VERSION = "3"

START = "<start>"
END = "<end>"
BARS = 8  # bars kept, from the first measure that holds a Note
FIRST_MEASURES = (0, 3)  # tempo and time signature: the last of each in these measures
MAX_REST_BARS = 2  # longer rests are dropped
QUANTIZE_DIVISORS = (4, 3)  # music21's default grid: sixteenths and eighth-triplets
CHORD_OCTAVE_MIDI = 60  # decoded chord notes sound in octave 4
VELOCITY = 90  # what music21 writes for a note without dynamics
MAX_TOKEN_BEATS = 1024  # the longest note, chord or rest a token may hold (EIMG's longest: a few bars)
MAX_DECODE_TOKENS = 10_000  # music21's MIDI writer takes time growing with the square of the length (25 s here)
MUSIC21_TICKS_PER_QUARTER = 10080  # music21's MIDI resolution
HORIZON_BEATS = 256.0  # bars are made this far first (`_bars_before`); EIMG pieces are shorter

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


# --- encoding -------------------------------------------------------------------------------


def encode_midi(path: str | Path) -> list[str]:
    """Tokenise one MIDI file the authors' way (docs/fidelity.md, row "tokens"); raise TokenizeError."""
    import music21

    path = Path(path)
    if path.is_dir():
        raise TokenizeError(f"{path} is a folder, not a MIDI file (`img2music tokens report` reads folders)")
    if not path.is_file():
        raise TokenizeError(f"no such MIDI file: {path}")
    horizon = HORIZON_BEATS
    while True:  # widen the bars made until they hold all bars the tokens read (once for EIMG files)
        cut: set[int] = set()
        try:
            with _music21_v8_import(), _bars_before(horizon, cut):
                score = music21.converter.parse(str(path), format="midi", forceSource=True)
        except Exception as error:  # music21 raises many types on broken files
            raise TokenizeError(f"cannot parse {path.name}: {type(error).__name__}: {error}") from None
        if not cut or _bars_complete(score, horizon, cut):
            break
        horizon *= 4
    try:
        return encode_score(score)
    except TokenizeError:
        raise
    except Exception as error:  # a music21 failure deep inside; say which file and what
        raise TokenizeError(f"music21 failed on {path.name}: {type(error).__name__}: {error}") from None


def encode_score(score) -> list[str]:
    """Tokenise a parsed music21 Score (the steps of `encode_midi` after parsing).

    Only the kept bars are transposed (after flattening): the tokens equal those
    of transposing the whole score first, at a third less time.
    """
    shift = key_shift(score)
    mark = _tempo(score)
    first = _first_measure_with_note(score)
    excerpt = score.measures(first, first + BARS - 1).flatten()
    signature = _time_signature(excerpt)
    excerpt.transpose(shift, inPlace=True)
    tokens = [START, f"{float(mark.number)}@tempo", f"{signature.ratioString}@time"]
    longest_rest = MAX_REST_BARS * signature.barDuration.quarterLength
    for element in excerpt.notesAndRests:
        token = _event_token(element, longest_rest)
        if token is not None:
            tokens.append(token)
    tokens.append(END)
    return tokens


def key_shift(score):
    """The music21 Interval that moves the piece to C major or A minor (key from `analyze('key')`).

    The interval runs from the estimated tonic to C (major) or A (minor), both
    without octave, i.e. music21 places both in octave 4: a major piece moves
    down by 0-11 semitones, a minor piece between 2 down and 9 up. Spelling
    follows the interval (so `E-` and `G#` both occur).
    """
    from music21 import interval, pitch

    try:
        key = score.analyze("key")
    except Exception as error:
        raise TokenizeError(f"key analysis failed: {type(error).__name__}: {error}") from None
    target = pitch.Pitch("C" if key.mode == "major" else "A")
    return interval.Interval(key.tonic, target)


def _tempo(score):
    """The last MetronomeMark in measures 0-3 (all parts, in part order)."""
    found = score.measures(*FIRST_MEASURES).recurse().getElementsByClass("MetronomeMark")
    marks = [mark for mark in found if mark.number is not None]
    if not marks:
        raise TokenizeError("no tempo (MetronomeMark) in measures 0-3")
    return marks[-1]


def _time_signature(excerpt):
    """The last TimeSignature of the flattened 8 bars (by offset; at one offset, the last part's).

    Not the tempo's rule: EIMG 1881 changes 6/8 -> 7/8 -> 1/4 -> 3/4 within its
    8 bars beside a 4/4 part and the authors' token is `3/4@time`; EIMG 0855
    has 3/4 in its first part and music21's default 4/4 in its second, both at
    offset 0, and the authors' token is `4/4@time`.
    """
    signatures = list(excerpt.getElementsByClass("TimeSignature"))
    if not signatures:
        raise TokenizeError("no time signature in the kept bars")
    return signatures[-1]


def _first_measure_with_note(score) -> int:
    """Number of the earliest measure, over all parts, that holds a Note (a chord alone does not count)."""
    numbers = []
    for part in score.parts:
        for measure in part.getElementsByClass("Measure"):
            if measure.recurse().getElementsByClass("Note"):
                numbers.append(measure.number)
                break
    if not numbers:
        raise TokenizeError("no single note (only chords or nothing)")
    return min(numbers)


def _event_token(element, longest_rest) -> str | None:
    length = element.duration.quarterLength
    if element.isRest:
        return f"r@{length}" if length <= longest_rest else None
    if element.isChord:
        return ".".join(str(pc) for pc in _normal_order(element)) + f"@{length}"
    return f"{element.pitch.nameWithOctave}@{length}"


def _normal_order(chord) -> list[int]:
    """music21 8's `Chord.normalOrder`: pitch classes of the chord's normal form, starting where music21 8 did.

    music21 8 took the normal form of an inverted set class (Forte's "B" forms)
    as the mirror image of its prime form (x -> span - x); music21 >= 9 takes
    the most packed rotation instead. They differ for 17 set classes (4-19B,
    5-13B, ...; 204 of the 4095 pitch-class sets), e.g. {3, 6, 7, 11} is
    `11.3.6.7` in music21 8 and `3.6.7.11` in music21 10. Checked against
    music21 8.1 on every pitch-class set.
    """
    if chord.chordTablesAddress.inversion != -1:
        return list(chord.normalOrder)
    prime = chord.primeForm
    form = sorted(prime[-1] - pc for pc in prime)
    present = chord.orderedPitchClasses
    for start in present:
        candidate = [(pc + start) % 12 for pc in form]
        if set(candidate) == set(present):
            return candidate
    raise TokenizeError(f"no normal order for pitch classes {present}")  # not reached for a real set class


@contextlib.contextmanager
def _music21_v8_import() -> Iterator[None]:
    """Make music21's MIDI import pair and quantise notes as music21 8 did, while the block runs.

    Pairing: music21 8 ends each note-on at the first not yet used note-off of
    its pitch and channel (first in, first out); music21 10 ends it at the next
    note-off, so a re-struck held note merges. Quantising: music21 >= 9 picks
    each duration's grid to fill the gap up to the next onset; music21 8, which
    made the authors' tokens, does this: every offset
    and duration snaps to the nearest multiple of 1/4 or 1/3 (smaller error
    wins, then the finer grid); if the quantised note then ends less than 1/4
    before the next element's quantised onset, its duration is re-snapped to
    the grid of that onset; notes never become 0 long (1/4 instead); rests
    that become 0 long are removed. Elements are visited with non-notes first,
    then notes in onset order, as music21 8 stored them. Bars: music21 8's
    `sortTuple` read every element's duration (is it a grace note?), so sorting
    a part computed and cached each bar's length; music21 10 skips streams.
    A chord split at a barline does not clear that cache, and `makeRests`
    places each bar at the sum of the cached lengths before it: the part's
    later bars move by the chord's overhang, as in music21 8.
    """
    from music21 import stream
    from music21.midi import translate

    original = stream.Stream.quantize
    original_pairing = translate.getNotesFromEvents

    def quantize(self, quarterLengthDivisors=(), processOffsets=True, processDurations=True,
                 inPlace=False, recurse=False):
        if not (inPlace and processOffsets and processDurations and not recurse):
            return original(self, quarterLengthDivisors, processOffsets, processDurations,
                            inPlace, recurse)
        _quantize_like_music21_v8(self, tuple(quarterLengthDivisors) or QUANTIZE_DIVISORS)
        return None

    stream.Stream.quantize = quantize
    translate.getNotesFromEvents = _pair_notes_first_in_first_out
    own_sort_tuple = "sortTuple" in vars(stream.Stream)
    original_sort_tuple = stream.Stream.sortTuple

    def sort_tuple(self, *args, **kwargs):
        self.duration  # noqa: B018 - music21 8 read it (is it a grace note?), caching the stream's length
        return original_sort_tuple(self, *args, **kwargs)

    stream.Stream.sortTuple = sort_tuple
    try:
        yield
    finally:
        stream.Stream.quantize = original
        translate.getNotesFromEvents = original_pairing
        if own_sort_tuple:
            stream.Stream.sortTuple = original_sort_tuple
        else:
            del stream.Stream.sortTuple


@contextlib.contextmanager
def _bars_before(horizon: float, cut: set[int]) -> Iterator[None]:
    """While the block runs, music21's MIDI import makes bars only for elements starting before `horizon` beats.

    music21 lays out each track in bars with two steps quadratic in the number
    of bars (`makeMeasures` looks up every element's bar from the first one;
    `makeRests` searches each bar's time signature across the part): 20,000
    notes took 20 s, 40,000 three minutes. The tokens read only bars 0-3 and
    the 8 bars from the first Note; the key reads every note. So the elements
    from `horizon` on are taken off the track just before its bars are made
    (pairing, chords, quantising and the voice decision have seen the whole
    track), and its notes are put back afterwards outside the bars, where the
    key analysis still counts them. Ids of the parts cut are added to `cut`;
    `_bars_complete` says whether the bars the tokens read were all made.
    """
    from music21 import note, stream
    from music21.midi import translate

    original_make_measures = stream.Stream.makeMeasures
    original_track_to_stream = translate.midiTrackToStream
    late_notes: dict[int, list] = {}

    def make_measures(self, *args, **kwargs):
        if kwargs.get("inPlace") and isinstance(self, stream.Part):
            self.sort()
            placed = [(self.elementOffset(e), e) for e in self.elements]  # flat: no end elements yet
            if placed and placed[-1][0] >= horizon:
                cut.add(id(self))
                late_notes[id(self)] = [(o, e) for o, e in placed if o >= horizon and isinstance(e, note.GeneralNote)]
                for offset, element in placed:
                    if offset >= horizon:
                        element.sites.remove(self)
                # one list assignment (popping one by one rescans the stream each time); in sorted
                # order, so the insertion indices it renews keep ties in their order
                self.elements = [e for o, e in placed if o < horizon]
                for offset, element in placed:
                    if offset < horizon and self.elementOffset(element) != offset:
                        self.coreSetElementOffset(element, offset)
        return original_make_measures(self, *args, **kwargs)

    def track_to_stream(*args, **kwargs):
        part = original_track_to_stream(*args, **kwargs)
        for offset, element in late_notes.pop(id(part), ()):
            part.coreInsert(offset, element)
        part.coreElementsChanged()
        return part

    stream.Stream.makeMeasures = make_measures
    translate.midiTrackToStream = track_to_stream
    try:
        yield
    finally:
        stream.Stream.makeMeasures = original_make_measures
        translate.midiTrackToStream = original_track_to_stream


def _bars_complete(score, horizon: float, cut: set[int]) -> bool:
    """Whether every part cut at `horizon` ends its last bar the tokens read (0-3, 8 from the first Note) before it."""
    try:
        first = _first_measure_with_note(score)
    except TokenizeError:
        return False
    last = max(first + BARS - 1, FIRST_MEASURES[1])
    for part in score.parts:
        if id(part) in cut:
            bar = part.measure(last)
            if bar is None or part.elementOffset(bar) + bar.barDuration.quarterLength > horizon:
                return False
    return True


def _pair_notes_first_in_first_out(timed_events):
    """(on tick, off tick, note-on event) per note: each note-on takes the first unused matching note-off."""
    from music21.midi.translate import TimedNoteEvent

    notes, used = [], set()
    for i, (on_time, event) in enumerate(timed_events):
        if not event.isNoteOn():
            continue
        for j in range(i + 1, len(timed_events)):
            if j not in used and event.matchedNoteOff(timed_events[j][1]):
                used.add(j)
                notes.append(TimedNoteEvent(on_time, timed_events[j][0], event))
                break
    return notes


def _snap(value: float, divisors: Iterable[int]) -> tuple[float, int]:
    """(nearest grid value, its divisor): the smallest error wins, then the finer grid (1/4 before 1/3)."""
    from music21.common import nearestMultiple

    best = None
    for divisor in divisors:
        match, error, _ = nearestMultiple(value, 1 / divisor)
        candidate = (error, 1 / divisor, match, divisor)
        best = candidate if best is None or candidate < best else best
    return best[2], best[3]


def _quantize_like_music21_v8(track, divisors: tuple[int, ...]) -> None:
    """Quantise the flat stream of one imported MIDI track in place (rule: `_music21_v8_import`)."""
    from music21 import note

    elements = list(track.elements)
    elements = [e for e in elements if not isinstance(e, note.GeneralNote)] + \
               [e for e in elements if isinstance(e, note.GeneralNote)]
    finest = 1 / max(divisors)
    empty_rests = []
    for index, element in enumerate(elements):
        offset = float(track.elementOffset(element))
        sign = -1 if offset < 0 else 1
        offset = sign * _snap(abs(offset), divisors)[0]
        track.setElementOffset(element, offset)
        offset = track.elementOffset(element)  # music21's exact form (23/3); the float sums below follow music21 8
        length = max(float(element.duration.quarterLength), 0.0)
        snapped, _ = _snap(length, divisors)
        if index + 1 < len(elements):
            next_onset, next_divisor = _snap(float(track.elementOffset(elements[index + 1])), divisors)
            if 0 < next_onset - (offset + snapped) < finest:
                snapped, _ = _snap(length, (next_divisor,))
        if snapped == 0 and isinstance(element, note.NotRest) and not element.duration.isGrace:
            element.quarterLength = finest
        elif snapped == 0 and isinstance(element, note.Rest):
            empty_rests.append(element)
        else:
            # like music21 8, this keeps an imported duration's odd tuplet (480/341 ...), which
            # later rescales the note: part of the authors' tokens, so kept on purpose
            element.duration.quarterLength = snapped
    track.coreElementsChanged()
    if empty_rests:
        track.remove(empty_rests)


# --- decoding -------------------------------------------------------------------------------


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

    from img2music_tf.files import atomic_path

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
