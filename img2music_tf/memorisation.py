"""How much generated music copies a training song: the longest run of tokens shared with one.

The authors trained on 70 distinct songs, each seen about 41 times per epoch, and 3 of the 4
images behind their Table 2 are training images: greedy decoding can return a memorised song.
For every generated piece we find the longest contiguous run of tokens it shares with any
training song (a suffix automaton over all training songs: linear time in their total length,
then linear in each piece) and name that song. A piece COPIES a training song when the run is at
least `MIN_RUN` tokens long or covers at least `MIN_SHARE` of the piece's events.

Tokens compared: the events, i.e. the sequence without `<start>` and `<end>`; tempo and time
tokens count like any other (they open every song).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from img2music_tf.tokens import END, START

MIN_RUN = 16  # tokens: a shared run this long is a copy, whatever the piece's length
MIN_SHARE = 0.9  # or a run covering this share of the piece's events


@dataclass(frozen=True)
class Copy:
    """The longest token run a piece shares with a training song, and whether it counts as a copy."""

    song: str | None  # id of the training song holding the run (None: no token in common)
    run: int  # tokens in the run
    share: float  # run / events in the piece (0 for an empty piece)
    copied: bool

    def to_dict(self) -> dict:
        return {"song": self.song, "longest_run": self.run, "share": round(self.share, 4), "copied": self.copied}


def events(tokens: Sequence[str]) -> list[str]:
    """The tokens without the `<start>` / `<end>` markers."""
    return [token for token in tokens if token not in (START, END)]


class SongIndex:
    """A suffix automaton of every training song, to find a piece's longest run shared with one of them.

    Songs are joined with a separator no token equals, so no run crosses two songs. Each automaton
    state keeps the end position of its first occurrence, which names the song holding the run.
    """

    def __init__(self, songs: Mapping[str, Sequence[str]]):
        self.ids: list[str] = []
        self.song_of_position: list[int] = []  # index in `ids` of the song at each text position
        self.next: list[dict] = [{}]  # transitions of each state
        self.link: list[int] = [-1]  # suffix links
        self.length: list[int] = [0]  # longest string of each state
        self.first_end: list[int] = [-1]  # end position of the state's first occurrence
        last = 0
        for index, (song_id, tokens) in enumerate(songs.items()):
            self.ids.append(song_id)
            for symbol in [*events(tokens), (index,)]:  # (index,) is the separator: unique, never a token
                self.song_of_position.append(index)
                last = self._extend(last, symbol, len(self.song_of_position) - 1)

    def _extend(self, last: int, symbol, position: int) -> int:
        """Add one symbol (the standard online construction); return the new last state."""
        current = self._state(self.length[last] + 1, position)
        state = last
        while state != -1 and symbol not in self.next[state]:
            self.next[state][symbol] = current
            state = self.link[state]
        if state == -1:
            self.link[current] = 0
            return current
        target = self.next[state][symbol]
        if self.length[state] + 1 == self.length[target]:
            self.link[current] = target
            return current
        clone = self._state(self.length[state] + 1, self.first_end[target])
        self.next[clone] = dict(self.next[target])
        self.link[clone] = self.link[target]
        while state != -1 and self.next[state].get(symbol) == target:
            self.next[state][symbol] = clone
            state = self.link[state]
        self.link[target] = self.link[current] = clone
        return current

    def _state(self, length: int, first_end: int) -> int:
        self.next.append({})
        self.link.append(-1)
        self.length.append(length)
        self.first_end.append(first_end)
        return len(self.length) - 1

    def longest_run(self, tokens: Sequence[str]) -> Copy:
        """The longest run of `tokens` (events) found inside one training song, and that song."""
        piece = events(tokens)
        state, matched, best, best_state = 0, 0, 0, 0
        for symbol in piece:
            while state and symbol not in self.next[state]:
                state = self.link[state]
                matched = self.length[state]
            if symbol in self.next[state]:
                state = self.next[state][symbol]
                matched += 1
            if matched > best:
                best, best_state = matched, state
        song = self.ids[self.song_of_position[self.first_end[best_state]]] if best else None
        share = best / len(piece) if piece else 0.0
        return Copy(song, best, share, best >= MIN_RUN or (best > 0 and share >= MIN_SHARE))

    def summarize(self, pieces: Sequence[Sequence[str]]) -> dict:
        """Of decoded token sequences: how many copy a training song (and which songs), how many are distinct,
        and how many are at most one repeated token (a collapsed decoder)."""
        copies = [self.longest_run(piece) for piece in pieces]
        return {
            "pieces": len(pieces),
            "copied": sum(copy.copied for copy in copies),
            "songs_copied": sorted({copy.song for copy in copies if copy.copied}),
            "distinct_pieces": len({tuple(piece) for piece in pieces}),
            "one_token_pieces": sum(len(set(events(piece))) <= 1 for piece in pieces),
        }
