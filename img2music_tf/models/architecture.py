"""The image-to-music network's sizes as a frozen dataclass (no Keras import: configs load fast)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from img2music_tf.errors import UserError

MIDI_ENCODERS = ("transformer", "lstm")


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """The network's sizes (Sections 3.3.1-3.3.3); `presets.ModelConfig` extends it with how to train it."""

    vocab_size: int = 978  # output classes, padding included (the authors' 977 tokens + padding)
    embed_dim: int = 256
    midi_encoder: str = "transformer"  # "transformer" or "lstm"
    encoder_blocks: int = 3  # transformer encoder blocks (unused by the LSTM encoder)
    lstm_units: tuple[int, ...] = ()  # LSTM widths (LSTM encoder only); the last equals embed_dim
    decoder_units: tuple[int, ...] = (128, 128, 256)  # Dense ReLU widths of the decoder
    decoder_blocks: int = 3  # how many of those Dense layers are preceded by an attention block
    num_heads: int = 4
    key_dim: int = 256
    image_dropout: float = 0.5
    dropout: float = 0.2
    layer_norm_epsilon: float = 1e-6

    def __post_init__(self):
        for field in ("lstm_units", "decoder_units"):
            object.__setattr__(self, field, tuple(int(n) for n in getattr(self, field)))
        if self.midi_encoder not in MIDI_ENCODERS:
            raise UserError(f"unknown MIDI encoder {self.midi_encoder!r}; choose one of {', '.join(MIDI_ENCODERS)}")
        if not 0 <= self.decoder_blocks <= len(self.decoder_units):
            raise UserError(
                f"decoder_blocks must be 0..{len(self.decoder_units)} (one per decoder unit), got {self.decoder_blocks}"
            )
        if self.midi_encoder == "lstm" and (not self.lstm_units or self.lstm_units[-1] != self.embed_dim):
            raise UserError(
                f"the last LSTM width must equal embed_dim={self.embed_dim}, got lstm_units={self.lstm_units}"
            )
        if self.midi_encoder == "transformer" and self.encoder_blocks < 1:
            raise UserError(f"a transformer encoder needs at least 1 block, got {self.encoder_blocks}")
        if self.vocab_size < 4:
            raise UserError(f"vocab_size must be >= 4, got {self.vocab_size}")

    def architecture(self) -> "Architecture":
        """Just the network's sizes (drops the fields a subclass adds)."""
        return Architecture(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Architecture)})
