"""MIDI files to tokens of the authors' language (`tokens`), the authors' way (docs/fidelity.md, row "tokens").

Encoding follows the authors' `midiData.txt` (their training pairs, already
tokenised; `data/authors.py` reads it): 69 of its 70 distinct songs are
reproduced token for token from EIMG files, e.g. their "0003", "0006" and
"0007" are EIMG `2991.mid`, `2090.mid` and `0855.mid` (their ids number
image-music pairs, and a song repeats). Details that matter:
  * The authors used music21 8. music21 10 pairs note-on/off events, quantises
    onsets and durations, and lays out bars differently, so parsing swaps in
    music21 8's three rules for the duration of the parse
    (`music21_v8.v8_import`). The bar rule: music21 8 cached every bar's length
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
  * Bars are made only as far as the tokens read (`music21_v8.bars_before`): music21's
    bar layout takes time quadratic in the number of bars, ours grows linearly
    with the file (a generated 40,000-note file: 7 s instead of 186 s).
  * Not reproduced: the authors' song of pairs 0076 etc. is EIMG 0423 without
    two rests (`r@1.25`, `r@0.25`, a part's bar-end rest and a gap rest) that
    music21 7.3, 8.1, 8.3 and 9.1 all make; we found no rule that drops them
    (datasets/authors/README.md lists the difference).
"""

from __future__ import annotations

from pathlib import Path

from img2music_tf.music21_v8 import bars_before, v8_import
from img2music_tf.tokens import END, START, TokenizeError

# Bump when `encode_midi` output can change: it keys the corpus cache.
TOKENIZER_VERSION = "4"  # 4: no tempo reads at 120 bpm; hostile or drums-only files refused first

BARS = 8  # bars kept, from the first measure that holds a Note
FIRST_MEASURES = (0, 3)  # tempo and time signature: the last of each in these measures
MAX_REST_BARS = 2  # longer rests are dropped
MAX_TRACKS, MAX_NOTES, MAX_BEATS = 256, 100_000, 100_000  # hostile-file limits (EIMG's largest: 6, 452, 143)
DEFAULT_BPM = 120.0  # MIDI's tempo where a file sets none
HORIZON_BEATS = 256.0  # bars are made this far first (`music21_v8.bars_before`); EIMG pieces are shorter


def encode_midi(path: str | Path) -> list[str]:
    """Tokenise one MIDI file the authors' way (docs/fidelity.md, row "tokens"); raise TokenizeError."""
    import music21

    path = Path(path)
    if path.is_dir():
        raise TokenizeError(f"{path} is a folder, not a MIDI file (`img2music tokens report` reads folders)")
    if not path.is_file():
        raise TokenizeError(f"no such MIDI file: {path}")
    _check_midi(path)
    horizon = HORIZON_BEATS
    while True:  # widen the bars made until they hold all bars the tokens read (once for EIMG files)
        cut: set[int] = set()
        try:
            with v8_import(), bars_before(horizon, cut):
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


def _check_midi(path: Path) -> None:
    """Refuse in one line, before music21 reads it, a file music21 would fail on obscurely or work on without
    end: format 2, more than MAX_TRACKS tracks, MAX_NOTES notes or MAX_BEATS beats (a 37-byte file with one note
    of 268 M ticks kept music21's makeRests busy for minutes), or no pitched note at all (drums only). A file
    mido cannot read is left to music21, whose message says why."""
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except Exception:  # noqa: BLE001 - mido raises many types on broken files; music21 names the problem
        return
    if midi.type == 2:
        raise TokenizeError(f"{path.name} is MIDI format 2 (independent sequences), which is not read; formats 0 "
                            "and 1 are")
    if len(midi.tracks) > MAX_TRACKS:
        raise TokenizeError(f"{path.name} has {len(midi.tracks)} tracks; at most {MAX_TRACKS} are read")
    notes = pitched = 0
    longest = 0
    for track in midi.tracks:
        ticks = 0
        for message in track:
            ticks += message.time
            if message.type == "note_on" and message.velocity > 0:
                notes += 1
                pitched += message.channel != 9  # channel 10: General MIDI drums
        longest = max(longest, ticks)
    beats = longest / max(midi.ticks_per_beat, 1)
    if notes > MAX_NOTES or beats > MAX_BEATS:
        raise TokenizeError(f"{path.name} has {notes} notes over {beats:.0f} beats; at most {MAX_NOTES} notes and "
                            f"{MAX_BEATS} beats are read")
    if not pitched:
        raise TokenizeError(f"{path.name} has no pitched note (drums only, or empty)")


def encode_score(score) -> list[str]:
    """Tokenise a parsed music21 Score (the steps of `encode_midi` after parsing).

    Only the kept bars are transposed (after flattening): the tokens equal those
    of transposing the whole score first, at a third less time.
    """
    shift = key_shift(score)
    bpm = _tempo(score)
    first = _first_measure_with_note(score)
    excerpt = score.measures(first, first + BARS - 1).flatten()
    signature = _time_signature(excerpt)
    excerpt.transpose(shift, inPlace=True)
    tokens = [START, f"{bpm}@tempo", f"{signature.ratioString}@time"]
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


def _tempo(score) -> float:
    """The bpm of the last MetronomeMark in measures 0-3 (all parts, in part order); MIDI's default 120 where
    there is none (a file without a tempo event: the authors' code fails on it, a MIDI player plays 120)."""
    found = score.measures(*FIRST_MEASURES).recurse().getElementsByClass("MetronomeMark")
    marks = [mark for mark in found if mark.number is not None]
    return float(marks[-1].number) if marks else DEFAULT_BPM


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
        raise TokenizeError("no single note (the 8 kept bars start at the first bar holding a lone pitch; this file "
                            "has only chords, drums or nothing)")
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
