"""Every model of the paper's tables as a named preset, and the fidelity switches resolved into fields.

`get_preset(name, scale, fidelity)` returns a frozen `ModelConfig`:

- names: the rows of Table 1 (2 epochs: LSTM_enc2, Trans_enc3_dec3_VGG, Trans_enc3_dec3_Inception, Trans_enc4,
  Trans_enc2_dec2) and Table 2 (15 epochs: Trans_enc3_dec3, Trans_enc3_dec3_VA_Loss). Figure 3 trains
  LSTM_enc2 and Trans_enc3_dec3_VA_Loss for 15 epochs: `get_preset(..., epochs=15)`. A new preset is one
  entry in `_ROWS`.
- scale: a name of `experiments.SCALES` ("paper": the authors' sizes; "smoke": minutes on a 2-core CPU;
  "tiny": unit tests; "demo", "demo-tiny": the demo's) or a `Scale`; it sets embedding, heads, max_len,
  image size and (below paper scale) the learning rate.
- fidelity: "paper" (what the paper says) or "code" (what the authors' scripts do), or the paper with one of
  the code's switches ("file-order", "fc2": the code's image feature, "script-rates"). `FIDELITIES` resolves
  each into explicit switches, copied into the config, so no other module reads the fidelity's name: the image
  feature (VGG16 pooled 512-d vs fc2 4096-d), resizing and preprocessing, the LSTM baseline (Mendis' 2 LSTMs
  + Dense 256 vs the script's 3 LSTMs + Dense 128, 256), learning rates (paper: 1e-5 everywhere; scripts: 1e-6
  for the LSTM, 1e-4 in the scripts that define Trans_enc4 and Trans_enc2_dec2), the song order (shuffled
  per epoch vs the data file's order every epoch), the VA loss weight (1e-5 vs 1e-7) and the music VA predictor's layers (BatchNorm + biases vs plain Dense without biases).

Vocabulary size defaults to 978 (the authors' 977 tokens + padding); the real one comes from the data:
`dataclasses.replace(config, vocab_size=len(vocab))` or `get_preset(name, vocab_size=len(vocab))`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from img2music_tf.errors import UserError
from img2music_tf.experiments import SCALES, Scale
from img2music_tf.models.architecture import DEFAULT_IMAGE_SIZE, Architecture, FeatureSpec, check_choice


@dataclass(frozen=True)
class Fidelity:
    """Where the paper and the authors' code differ (docs/fidelity.md), as explicit switches."""

    image_layer: str  # VGG16 feature: "pooled" 512-d (paper) or "fc2" 4096-d (code); InceptionV3 is always pooled
    image_resize: str  # "bilinear" (paper) or "nearest" (Keras load_img, code)
    image_preprocessing: str  # "own" network's preprocess_input (paper) or "vgg16" for both networks (code)
    script_lstm: bool  # LSTM baseline: the script's 3 LSTMs + Dense 128, 256 instead of Mendis' 2 LSTMs + Dense 256
    script_learning_rates: bool  # each script's learning rate instead of the paper's 1e-5
    shuffle_songs: bool  # a new song order each epoch (ours; the paper says nothing) or the file's order (code)
    lambda_va: float  # weight of L_VA: paper Section 3.4 says 1e-5, the VA script uses 1e-7
    va_batchnorm: bool  # music VA predictor: Dense -> BatchNorm -> ReLU with biases (paper) or Dense, no bias (code)


_PAPER = Fidelity("pooled", "bilinear", "own", script_lstm=False, script_learning_rates=False, shuffle_songs=True,
                 lambda_va=1e-5, va_batchnorm=True)
FIDELITIES = {
    "paper": _PAPER,
    "code": Fidelity("fc2", "nearest", "vgg16", script_lstm=True, script_learning_rates=True,
                     shuffle_songs=False, lambda_va=1e-7, va_batchnorm=False),
    # The paper with one of the code's switches: which one closes the gap between our epoch-2 training loss
    # and the authors' log (issue 21; the GPU queue's fidelity runs, experiments.QUEUES).
    "file-order": dataclasses.replace(_PAPER, shuffle_songs=False),
    "fc2": dataclasses.replace(_PAPER, image_layer="fc2", image_resize="nearest", image_preprocessing="vgg16"),
    "script-rates": dataclasses.replace(_PAPER, script_learning_rates=True),
}
PAPER_LEARNING_RATE = 1e-5
VA_TERMS = ("argmax", "soft")


def feature_spec(encoder: str, fidelity: str = "paper", image_size: int | None = None) -> FeatureSpec:
    """The image feature of `encoder` as `fidelity` says: layer, resizing and preprocessing."""
    check_choice("fidelity", fidelity, tuple(FIDELITIES))
    switches = FIDELITIES[fidelity]
    return FeatureSpec(
        encoder=encoder,
        layer=switches.image_layer if encoder == "vgg16" else "pooled",
        resize=switches.image_resize,
        preprocessing=switches.image_preprocessing,
        image_size=image_size,
    )


@dataclass(frozen=True, kw_only=True)
class ModelConfig(Architecture):
    """One trainable model: the network's `Architecture`, its image feature and its training (Section 4.1).

    `scale` and `fidelity` name where the numbers came from; no module reads them to decide anything.
    """

    name: str
    scale: str = "paper"
    fidelity: str = "paper"
    # Image feature (models.image_encoder.FeatureSpec)
    image_encoder: str = "vgg16"  # "vgg16" or "inception_v3"
    image_layer: str = "pooled"
    image_resize: str = "bilinear"
    image_preprocessing: str = "own"
    image_size: int = 224  # CNN input side in pixels
    max_len: int = 236  # longest token sequence (prefixes are cut to it; generation stops there)
    # Training
    learning_rate: float = 1e-5
    adam_beta_1: float = 0.9
    adam_beta_2: float = 0.999
    epochs: int = 2
    shuffle_songs: bool = True  # songs in a new order each epoch (from the seed); False: the data's order every
    # epoch, as the authors' generator iterates midiData.txt
    va_loss: bool = False  # add lambda_va * L_VA to lambda_cc * L_CC (Section 3.4)
    va_term: str = "argmax"  # "argmax": the paper's L_VA (no gradient); "soft": losses.SoftVALoss (not in the paper)
    lambda_va: float = 1e-5
    lambda_cc: float = 1.0
    va_batchnorm: bool = True  # the music VA predictor trained for this run: BatchNorm + biases, or plain
    mixed_precision: bool = False  # bf16 compute (float32 weights, probabilities and losses): faster on a GPU
    group_rows: int | None = None  # a training step in row groups of at most this many prefixes (`batches`):
    # gradients add up, one Adam step per song, equal weights up to float summation order; less memory and
    # arithmetic (1.8x a pass at paper scale on a CPU); None: one batch per song, as the authors

    def __post_init__(self):
        super().__post_init__()
        check_choice("scale", self.scale, tuple(SCALES))
        check_choice("fidelity", self.fidelity, tuple(FIDELITIES))
        check_choice("VA term", self.va_term, VA_TERMS)
        _ = self.image_features  # validates encoder, layer, resizing and size
        if self.max_len < 2:
            raise UserError(f"max_len must be >= 2, got {self.max_len}")

    @property
    def image_features(self) -> FeatureSpec:
        """What the image CNN extracts for this model."""
        return FeatureSpec(self.image_encoder, self.image_layer, self.image_resize, self.image_preprocessing,
                           self.image_size)

    @property
    def image_dim(self) -> int:
        """Length of the image feature the model takes (512 / 4096 for VGG16, 2048 for InceptionV3)."""
        return self.image_features.dim

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
    va_term: str = "argmax"
    lambda_va: float | None = None  # None: the fidelity's (the paper's 1e-5, the script's 1e-7)
    va_condition: str = "none"  # models.architecture.VA_CONDITIONS


_ROWS = {
    "LSTM_enc2": _Row(1, "lstm", 0, 0, code_learning_rate=1e-6),
    "Trans_enc3_dec3_VGG": _Row(1, "transformer", 3, 3),
    "Trans_enc3_dec3_Inception": _Row(1, "transformer", 3, 3, image_encoder="inception_v3"),
    "Trans_enc4": _Row(1, "transformer", 4, 0, code_learning_rate=1e-4),
    "Trans_enc2_dec2": _Row(1, "transformer", 2, 2, code_learning_rate=1e-4),
    "Trans_enc3_dec3": _Row(2, "transformer", 3, 3),
    "Trans_enc3_dec3_VA_Loss": _Row(2, "transformer", 3, 3, va_loss=True),
    # Not in the paper: a VA term with a gradient (losses.SoftVALoss). Its lambda is large enough to move the
    # weights (the paper's 1e-5 would not); change it with `lambda_va=` / `img2music train --lambda-va`.
    "Trans_enc3_dec3_VA_Soft": _Row(2, "transformer", 3, 3, va_loss=True, va_term="soft", lambda_va=0.1),
    # Not in the paper: the decoder conditioned on a (valence, arousal) pair (`conditioning`): in training the
    # music's own label, at generation the picture's; beside the image feature, or in its place.
    "Trans_enc3_dec3_VA_Cond": _Row(2, "transformer", 3, 3, va_condition="with_image"),
    "Trans_enc3_dec3_VA_Cond_NoImage": _Row(2, "transformer", 3, 3, va_condition="without_image"),
}
PAPER_PRESETS = tuple(name for name, row in _ROWS.items() if row.va_term == "argmax" and row.va_condition == "none")
"""The rows of the paper's tables; the others are this project's additions."""
PRESET_NAMES = tuple(_ROWS)

_EPOCHS = {1: 2, 2: 15}  # Table 1 is "after 2 epochs", Table 2 "after 15 epochs"


def get_preset(name: str, scale: str | Scale = "paper", fidelity: str = "paper", **overrides) -> ModelConfig:
    """The config of table row `name` at `scale` and `fidelity`, with any field replaced by `overrides`."""
    check_choice("model preset", name, PRESET_NAMES)
    if isinstance(scale, str):
        check_choice("scale", scale, tuple(SCALES))
        scale = SCALES[scale]
    check_choice("fidelity", fidelity, tuple(FIDELITIES))
    row, switches = _ROWS[name], FIDELITIES[fidelity]
    embed = scale.embed_dim
    half = embed // 2
    if row.midi_encoder == "lstm":
        # Mendis et al.: LSTM 128, LSTM 256, Dense 256; authors' script: LSTM 128, 256, 256, Dense 128, 256.
        lstm_units = (half, embed, embed) if switches.script_lstm else (half, embed)
        decoder_units = (half, embed) if switches.script_lstm else (embed,)
    else:
        # Authors' code: Dense 128, 128, 256 after 3 blocks; 128, 256 after 2 blocks or with dense layers only.
        lstm_units = ()
        decoder_units = (half,) * (max(row.decoder_blocks, 2) - 1) + (embed,)
    paper_rate = row.code_learning_rate if switches.script_learning_rates else PAPER_LEARNING_RATE
    spec = feature_spec(row.image_encoder, fidelity)
    if scale.image_size == "native":
        image_size = DEFAULT_IMAGE_SIZE[row.image_encoder]
    else:  # "smallest", or pixels but no fewer than the CNN accepts (VGG16's fc2 takes 224 px only)
        image_size = max(spec.min_image_size, 0 if scale.image_size == "smallest" else scale.image_size)
    config = ModelConfig(
        name=name,
        scale=scale.name,
        fidelity=fidelity,
        midi_encoder=row.midi_encoder,
        encoder_blocks=row.encoder_blocks,
        lstm_units=lstm_units,
        decoder_units=decoder_units,
        decoder_blocks=row.decoder_blocks,
        embed_dim=embed,
        num_heads=scale.num_heads,
        key_dim=scale.key_dim,
        image_encoder=spec.encoder,
        image_layer=spec.layer,
        image_resize=spec.resize,
        image_preprocessing=spec.preprocessing,
        image_size=image_size,
        max_len=scale.max_len,
        learning_rate=scale.learning_rate or paper_rate,
        epochs=_EPOCHS[row.table],
        shuffle_songs=switches.shuffle_songs,
        va_loss=row.va_loss,
        va_term=row.va_term,
        lambda_va=switches.lambda_va if row.lambda_va is None else row.lambda_va,
        va_batchnorm=switches.va_batchnorm,
        va_condition=row.va_condition,
    )
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(ModelConfig)})
    if unknown:
        raise UserError(f"unknown model config field(s): {', '.join(unknown)}")
    return dataclasses.replace(config, **overrides)
