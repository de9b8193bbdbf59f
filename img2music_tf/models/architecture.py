"""The networks' configs as frozen dataclasses (no Keras import: configs load fast): the image-to-music
network's sizes (`Architecture`) and which image feature the frozen CNN gives (`FeatureSpec`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from img2music_tf.errors import UserError

MIDI_ENCODERS = ("transformer", "lstm")
VA_CONDITIONS = ("none", "with_image", "without_image")
"""What the decoder's input holds besides the token prefix's encoding: the image feature (the paper, "none"), the
image feature and a (valence, arousal) pair ("with_image"), or that pair alone ("without_image"); not in the paper."""
ENCODERS = ("vgg16", "inception_v3")
LAYERS = ("pooled", "fc2")
RESIZES = ("bilinear", "nearest")
PREPROCESSINGS = ("own", "vgg16")
DEFAULT_IMAGE_SIZE = {"vgg16": 224, "inception_v3": 299}
_MIN_IMAGE_SIZE = {"vgg16": 32, "inception_v3": 75}
_FEATURE_DIMS = {("vgg16", "pooled"): 512, ("vgg16", "fc2"): 4096, ("inception_v3", "pooled"): 2048}


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
    va_condition: str = "none"  # VA_CONDITIONS: conditioned on a (valence, arousal) pair (not in the paper)

    def __post_init__(self):
        check_choice("VA condition", self.va_condition, VA_CONDITIONS)
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

    @property
    def va_conditioned(self) -> bool:
        """Whether the net reads a (valence, arousal) pair after the image feature (`conditioning`)."""
        return self.va_condition != "none"

    def architecture(self) -> "Architecture":
        """Just the network's sizes (drops the fields a subclass adds)."""
        return Architecture(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Architecture)})


@dataclass(frozen=True)
class FeatureSpec:
    """Which CNN, which layer, and how pixels reach it; `image_size` None = the network's native size."""

    encoder: str = "vgg16"
    layer: str = "pooled"
    resize: str = "bilinear"
    preprocessing: str = "own"
    image_size: int | None = None

    def __post_init__(self):
        check_choice("image encoder", self.encoder, ENCODERS)
        check_choice("image feature layer", self.layer, LAYERS)
        check_choice("image resize", self.resize, RESIZES)
        check_choice("image preprocessing", self.preprocessing, PREPROCESSINGS)
        if (self.encoder, self.layer) not in _FEATURE_DIMS:
            raise UserError(f"{self.encoder} has no {self.layer!r} feature layer; choose pooled")
        if self.image_size is None:
            object.__setattr__(self, "image_size", DEFAULT_IMAGE_SIZE[self.encoder])
        if self.layer == "fc2" and self.image_size != 224:
            raise UserError(f"VGG16's fc2 feature keeps its dense layers: images must be 224 px, got {self.image_size}")
        if self.image_size < self.min_image_size:
            raise UserError(f"{self.encoder} needs images of at least {self.min_image_size} px, got {self.image_size}")

    @property
    def dim(self) -> int:
        """Length of the feature vector (512 / 4096 for VGG16, 2048 for InceptionV3)."""
        return _FEATURE_DIMS[(self.encoder, self.layer)]

    @property
    def min_image_size(self) -> int:
        """The smallest input side the network accepts (224 for VGG16 fc2, whose dense layers fix the size)."""
        return 224 if self.layer == "fc2" else _MIN_IMAGE_SIZE[self.encoder]

    @property
    def tag(self) -> str:
        """A short name for the cache key, e.g. `vgg16-pooled-bilinear-own-224px`."""
        return f"{self.encoder}-{self.layer}-{self.resize}-{self.preprocessing}-{self.image_size}px"


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    """UserError naming the valid choices when `value` is not one of them."""
    if value not in choices:
        raise UserError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
