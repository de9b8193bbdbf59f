"""Every model of the paper's tables as a named preset: architecture plus training hyperparameters.

`get_preset(name, scale, fidelity)` returns a frozen `ModelConfig`:

- names: the rows of Table 1 (2 epochs: LSTM_enc2, Trans_enc3_dec3_VGG, Trans_enc3_dec3_Inception, Trans_enc4,
  Trans_enc2_dec2) and Table 2 (15 epochs: Trans_enc3_dec3, Trans_enc3_dec3_VA_Loss). Figure 3 trains
  LSTM_enc2 and Trans_enc3_dec3_VA_Loss for 15 epochs: `get_preset(..., epochs=15)`.
- scale: "paper" (the authors' sizes: embedding 256, 4 heads of key_dim 256, 224/299 px images), "smoke"
  (embedding 64, 4 heads of key_dim 16; trains in minutes on a 2-core CPU), "tiny" (embedding 16; unit tests in
  seconds). Smoke and tiny use learning rate 1e-3: the paper's 1e-5 for 2 epochs on a small CPU run moves the
  weights too little to learn anything visible.
- fidelity: "paper" (what the paper says) or "code" (what the authors' scripts do); they differ in the image
  feature (VGG16 pooled 512-d vs fc2 4096-d), the LSTM baseline (Mendis' 2 LSTMs + Dense 256 vs the script's
  3 LSTMs + Dense 128, 256), the VA loss weight (1e-5 vs 1e-7) and learning rates (paper: 1e-5 everywhere;
  scripts: 1e-6 for the LSTM, 1e-4 in the scripts that define Trans_enc4 and Trans_enc2_dec2).

Vocabulary size defaults to 978 (the authors' 977 tokens + padding); the real one comes from the data:
`dataclasses.replace(config, vocab_size=len(vocab))` or `get_preset(name, vocab_size=len(vocab))`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from img2music_tf.errors import UserError
from img2music_tf.models import image_encoder
from img2music_tf.models.image_encoder import check_choice

SCALES = ("paper", "smoke", "tiny")
FIDELITIES = image_encoder.FIDELITIES
MIDI_ENCODERS = ("transformer", "lstm")


@dataclass(frozen=True)
class ModelConfig:
    """One trainable model: architecture (Section 3.3) and training hyperparameters (Section 4.1)."""

    name: str
    scale: str = "paper"
    fidelity: str = "paper"
    # Architecture
    midi_encoder: str = "transformer"  # "transformer" or "lstm"
    encoder_blocks: int = 3  # transformer encoder blocks (unused by the LSTM encoder)
    lstm_units: tuple[int, ...] = ()  # LSTM widths (LSTM encoder only); the last equals embed_dim
    decoder_units: tuple[int, ...] = (128, 128, 256)  # Dense ReLU widths of the decoder
    decoder_blocks: int = 3  # how many of those Dense layers are preceded by an attention block
    embed_dim: int = 256
    num_heads: int = 4
    key_dim: int = 256
    image_dropout: float = 0.5
    dropout: float = 0.2
    layer_norm_epsilon: float = 1e-6
    image_encoder: str = "vgg16"  # "vgg16" or "inception_v3"
    image_size: int = 224  # CNN input side in pixels
    vocab_size: int = 978
    max_len: int = 236  # longest token sequence (prefixes are padded to it; generation stops there)
    # Training
    learning_rate: float = 1e-5
    adam_beta_1: float = 0.9
    adam_beta_2: float = 0.999
    epochs: int = 2
    va_loss: bool = False  # add lambda_va * L_VA to lambda_cc * L_CC (Section 3.4)
    lambda_va: float = 1e-5
    lambda_cc: float = 1.0

    def __post_init__(self):
        for field in ("lstm_units", "decoder_units"):
            object.__setattr__(self, field, tuple(int(n) for n in getattr(self, field)))
        check_choice("scale", self.scale, SCALES)
        check_choice("fidelity", self.fidelity, FIDELITIES)
        check_choice("MIDI encoder", self.midi_encoder, MIDI_ENCODERS)
        image_encoder.image_size_for(self.image_encoder, self.fidelity, self.image_size)
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
        if self.vocab_size < 4 or self.max_len < 2:
            raise UserError(f"vocab_size must be >= 4 and max_len >= 2, got {self.vocab_size} and {self.max_len}")

    @property
    def image_dim(self) -> int:
        """Length of the image feature the model takes (512 / 4096 for VGG16, 2048 for InceptionV3)."""
        return image_encoder.feature_dim(self.image_encoder, self.fidelity)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples become lists)."""
        values = dataclasses.asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """Inverse of `to_dict`; unknown keys are a UserError (e.g. a config written by another version)."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class _Row:
    """A row of the paper's tables, at paper scale."""

    table: int
    midi_encoder: str
    encoder_blocks: int
    decoder_blocks: int
    image_encoder: str = "vgg16"
    va_loss: bool = False
    code_learning_rate: float = 1e-5  # the learning rate the authors' script compiles this model with


_ROWS = {
    "LSTM_enc2": _Row(1, "lstm", 0, 0, code_learning_rate=1e-6),
    "Trans_enc3_dec3_VGG": _Row(1, "transformer", 3, 3),
    "Trans_enc3_dec3_Inception": _Row(1, "transformer", 3, 3, image_encoder="inception_v3"),
    "Trans_enc4": _Row(1, "transformer", 4, 0, code_learning_rate=1e-4),
    "Trans_enc2_dec2": _Row(1, "transformer", 2, 2, code_learning_rate=1e-4),
    "Trans_enc3_dec3": _Row(2, "transformer", 3, 3),
    "Trans_enc3_dec3_VA_Loss": _Row(2, "transformer", 3, 3, va_loss=True),
}
PRESET_NAMES = tuple(_ROWS)

_EPOCHS = {1: 2, 2: 15}  # Table 1 is "after 2 epochs", Table 2 "after 15 epochs"
_EMBED_DIM = {"paper": 256, "smoke": 64, "tiny": 16}
# (num_heads, key_dim): the authors use key_dim = embed_dim per head; smoke uses the usual embed_dim / num_heads.
_HEADS = {"paper": (4, 256), "smoke": (4, 16), "tiny": (2, 8)}
_MAX_LEN = {"paper": 236, "smoke": 236, "tiny": 32}
_SMALL_SCALE_LEARNING_RATE = 1e-3
_LAMBDA_VA = {"paper": 1e-5, "code": 1e-7}


def get_preset(name: str, scale: str = "paper", fidelity: str = "paper", **overrides) -> ModelConfig:
    """The config of table row `name` at `scale` and `fidelity`, with any field replaced by `overrides`."""
    check_choice("model preset", name, PRESET_NAMES)
    check_choice("scale", scale, SCALES)
    check_choice("fidelity", fidelity, FIDELITIES)
    row = _ROWS[name]
    embed = _EMBED_DIM[scale]
    half = embed // 2
    if row.midi_encoder == "lstm":
        # Mendis et al.: LSTM 128, LSTM 256, Dense 256; authors' script: LSTM 128, 256, 256, Dense 128, 256.
        lstm_units = (half, embed) if fidelity == "paper" else (half, embed, embed)
        decoder_units = (embed,) if fidelity == "paper" else (half, embed)
    else:
        # Authors' code: Dense 128, 128, 256 after 3 blocks; 128, 256 after 2 blocks or with dense layers only.
        lstm_units = ()
        decoder_units = (half,) * (max(row.decoder_blocks, 2) - 1) + (embed,)
    if scale == "paper":
        learning_rate = 1e-5 if fidelity == "paper" else row.code_learning_rate
        image_size = image_encoder.DEFAULT_IMAGE_SIZE[row.image_encoder]
    else:
        learning_rate = _SMALL_SCALE_LEARNING_RATE
        image_size = (
            image_encoder.DEFAULT_IMAGE_SIZE[row.image_encoder]
            if scale == "smoke"
            else image_encoder.min_image_size(row.image_encoder, fidelity)
        )
    num_heads, key_dim = _HEADS[scale]
    config = ModelConfig(
        name=name,
        scale=scale,
        fidelity=fidelity,
        midi_encoder=row.midi_encoder,
        encoder_blocks=row.encoder_blocks,
        lstm_units=lstm_units,
        decoder_units=decoder_units,
        decoder_blocks=row.decoder_blocks,
        embed_dim=embed,
        num_heads=num_heads,
        key_dim=key_dim,
        image_encoder=row.image_encoder,
        image_size=image_size,
        max_len=_MAX_LEN[scale],
        learning_rate=learning_rate,
        epochs=_EPOCHS[row.table],
        va_loss=row.va_loss,
        lambda_va=_LAMBDA_VA[fidelity],
    )
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(ModelConfig)})
    if unknown:
        raise UserError(f"unknown model config field(s): {', '.join(unknown)}")
    return dataclasses.replace(config, **overrides)

