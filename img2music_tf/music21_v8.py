"""music21 8's MIDI import rules, swapped into music21 10 while a file is parsed, and bars made only as far as read.

The authors tokenised with music21 8 (`tokenizer`); music21 10 pairs note-on/off events, quantises onsets
and durations, and lays out bars differently. `v8_import` brings back music21 8's three rules for the
duration of a parse; `bars_before` makes bars only up to a horizon, since music21's bar layout takes time
quadratic in the number of bars.
"""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

QUANTIZE_DIVISORS = (4, 3)  # music21's default grid: sixteenths and eighth-triplets


@contextlib.contextmanager
def v8_import() -> Iterator[None]:
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
def bars_before(horizon: float, cut: set[int]) -> Iterator[None]:
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
    `tokenizer._bars_complete` says whether the bars the tokens read were all made.
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
    """Quantise the flat stream of one imported MIDI track in place (rule: `v8_import`)."""
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
