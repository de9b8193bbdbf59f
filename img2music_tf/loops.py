"""Loop types: what a (greedy) piece repeats, read from its tokens.

A model decoded greedily after 2 epochs mostly loops one event, and Music_Quality_Loss (Section 4.1) scores
the loop, not the model: one pitch repeated gives 2.007, one dyad 1.757, one triad about 1.50 and a
four-note chord with rests 0.83, close to the paper's best row (results/metric_anatomy.md). Tables report
each piece's loop type so a reader can tell which loop a number measures.
"""

from __future__ import annotations

from collections.abc import Iterable

from img2music_tf.tokens import parse_token

NO_NOTES = "no notes"
ONE_PITCH = "one pitch"
DYAD = "dyad"
CHORD_LOOP = "chord loop"
VARIED = "varied"
LOOP_TYPES = (NO_NOTES, ONE_PITCH, DYAD, CHORD_LOOP, VARIED)
"""From the plainest to real music; `loop_type` returns one of these."""


def sounding_sets(tokens: Iterable[str]) -> list[frozenset[int]]:
    """The MIDI pitches each sounding token plays, in order; rests, tempo, time, markers and 0-long
    (grace) tokens play nothing and are left out."""
    sets = []
    for token in tokens:
        event = parse_token(token)
        if event.kind in ("note", "chord") and event.quarter_length > 0:
            sets.append(frozenset(event.pitches))
    return sets


def loop_type(tokens: Iterable[str]) -> str:
    """The loop type of a token sequence: every sounding token plays the same pitches -> `ONE_PITCH`,
    `DYAD` or `CHORD_LOOP` (3 or more pitches) by how many; nothing sounds -> `NO_NOTES`; else `VARIED`.

    Durations and rests do not matter (`0.3.6.9@1.75 r@0.75` repeated is a chord loop), octaves do
    (`C4` and `C5` alternating is varied music). A note and a one-class chord of the same pitch
    (`E4@1.0`, `4@0.5`) play the same pitch.
    """
    distinct = set(sounding_sets(tokens))
    if not distinct:
        return NO_NOTES
    if len(distinct) > 1:
        return VARIED
    size = len(next(iter(distinct)))
    return ONE_PITCH if size == 1 else DYAD if size == 2 else CHORD_LOOP
