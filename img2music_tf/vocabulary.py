"""The token vocabulary: a fixed, sorted token <-> id table saved as JSON beside a model.

Id 0 is padding; tokens follow in sorted order, so the same training sequences
always give the same ids (the authors' tokenizer depended on Python's hash seed,
lower-cased tokens and dropped the 11 highest ids; docs/fidelity.md, row "tokens").
The authors' 977 tokens give `len(vocab) == 978`. Encoding a token that is not
in the table raises a UserError naming it: silently mapping it elsewhere would
hide a tokenizer mismatch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Sequence

from img2music_tf.errors import UserError
from img2music_tf.files import write_json
from img2music_tf.tokens import END, START

PAD = "<pad>"
PAD_ID = 0  # the padding token's id: prefixes are padded with it, the MIDI encoders mask it
FORMAT = "img2music_tf.vocabulary/1"


class Vocabulary:
    """Token <-> id table; `tokens[i]` is the token with id i, `tokens[0]` is padding."""

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if not tokens or tokens[PAD_ID] != PAD:
            raise UserError(f"a vocabulary must start with the padding token {PAD!r}")
        if len(set(tokens)) != len(tokens):
            raise UserError("a vocabulary must not repeat a token")
        for marker in (START, END):
            if marker not in tokens:
                raise UserError(f"a vocabulary must hold {marker!r}")
        self.tokens = tokens
        self._ids = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]]) -> "Vocabulary":
        """All distinct tokens of `sequences` (plus `<start>`, `<end>`), sorted, after padding."""
        distinct = {START, END}
        for sequence in sequences:
            distinct.update(sequence)
        distinct.discard(PAD)
        return cls([PAD, *sorted(distinct)])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    @property
    def sha256(self) -> str:
        """Hex sha256 of the tokens in id order: changes when a token is added, removed or moved."""
        return hashlib.sha256(json.dumps(self.tokens).encode("utf-8")).hexdigest()

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def start_id(self) -> int:
        return self._ids[START]

    @property
    def end_id(self) -> int:
        return self._ids[END]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens`; an unknown token raises a UserError that names it."""
        ids = []
        for token in tokens:
            try:
                ids.append(self._ids[token])
            except KeyError:
                raise UserError(
                    f"token {token!r} is not in the vocabulary ({len(self)} tokens); "
                    "was it built from the same tokenizer and data?"
                ) from None
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids`, padding (id 0) left out; an id outside the table raises a UserError."""
        tokens = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise UserError(f"token id {i} is outside the vocabulary (0..{len(self.tokens) - 1})")
            if i != self.pad_id:
                tokens.append(self.tokens[i])
        return tokens

    def save(self, path: str | Path) -> Path:
        """Write the table as JSON (atomically)."""
        return write_json(path, {"format": FORMAT, "tokens": self.tokens})

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        """Read a table written by `save`; a missing or foreign file raises a UserError."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"vocabulary file not found: {path}") from None
        except (OSError, ValueError) as error:  # ValueError: JSON or UTF-8 decoding
            raise UserError(f"cannot read vocabulary {path}: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("tokens"), list):
            raise UserError(f"{path} is not an img2music_tf vocabulary file")
        return cls(data["tokens"])
