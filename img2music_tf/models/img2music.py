"""The whole image-to-music model (Figure 1): image feature + token prefix -> next-token probabilities.

Inputs `{"image": (B, F) float32 CNN features, "tokens": (B, T) int32 prefix ids, 0 = padding}`, output
(B, V) softmax. A VA-conditioned net (not in the paper) reads (B, F + 2) as "image": the feature, then the
(valence, arousal) to express, scaled to -1..1 (`conditioning.net_inputs`). The CNN itself stays outside (features are precomputed and cached, see `image_encoder`),
as in the authors' code, whose trans_enc3_dec3 has 6,898,130 parameters with 4096-d VGG16 features.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from img2music_tf.conditioning import VA_DIMS
from img2music_tf.models.architecture import Architecture
from img2music_tf.models.decoder import Decoder
from img2music_tf.models.midi_encoder import LSTMEncoder, TransformerEncoder

@keras.saving.register_keras_serializable(package="img2music_tf")
class Img2Music(keras.Model):
    """Image branch (Dropout -> Dense ReLU) + MIDI encoder, added, then the decoder (Sections 3.3.1-3.3.3).

    `architecture.midi_encoder` is "transformer" (`encoder_blocks` attention blocks) or "lstm" (`lstm_units`,
    whose last width must equal `embed_dim` for the Add merge). `image_dim` is the CNN feature length.
    `architecture.va_condition` "with_image" adds a Dense ReLU projection of the (valence, arousal) pair to the
    merge; "without_image" puts it in place of the image branch (not in the paper).
    """

    def __init__(self, image_dim: int, architecture: Architecture | dict, **kwargs):
        if isinstance(architecture, dict):
            architecture = Architecture(**architecture)
        a = architecture
        # === Layers ===
        if a.va_condition != "without_image":
            self.image_dropout = layers.Dropout(a.image_dropout, name="image_dropout")
            self.image_projection = layers.Dense(a.embed_dim, activation="relu", name="image_projection")
        if a.midi_encoder == "transformer":
            self.midi_encoder = TransformerEncoder(
                a.vocab_size, a.embed_dim, a.encoder_blocks, a.num_heads, a.key_dim, a.dropout,
                a.layer_norm_epsilon, name="midi_encoder",
            )
        else:
            self.midi_encoder = LSTMEncoder(a.vocab_size, a.embed_dim, a.lstm_units, a.dropout, name="midi_encoder")
        if a.va_conditioned:
            self.va_projection = layers.Dense(a.embed_dim, activation="relu", name="va_projection")
        self.merge = layers.Add(name="merge")
        self.decoder = Decoder(
            a.vocab_size, a.decoder_units, a.decoder_blocks, a.num_heads, a.key_dim, a.dropout,
            a.layer_norm_epsilon, name="decoder",
        )

        # === Functional Model ===
        width = image_dim + (VA_DIMS if a.va_conditioned else 0)
        image = keras.Input(shape=(width,), dtype="float32", name="image")  # (B, F) or (B, F + 2)
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")  # (B, T)
        merged = [self.midi_encoder(tokens)]  # [(B, E)]
        if a.va_condition != "without_image":
            merged.append(self.image_projection(self.image_dropout(image[:, :image_dim])))  # (B, E)
        if a.va_conditioned:
            merged.append(self.va_projection(image[:, image_dim:]))  # (B, 2) -> (B, E)
        probabilities = self.decoder(self.merge(merged))  # (B, V)
        super().__init__(inputs={"image": image, "tokens": tokens}, outputs=probabilities, **kwargs)

        # === Config ===
        self.image_dim = image_dim
        self.architecture = architecture

    def get_config(self):
        architecture = dataclasses.asdict(self.architecture)
        architecture.update(lstm_units=list(self.architecture.lstm_units),
                            decoder_units=list(self.architecture.decoder_units))
        return {"name": self.name, "trainable": self.trainable, "image_dim": self.image_dim,
                "architecture": architecture}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_model(config) -> Img2Music:
    """The model of a `presets.ModelConfig` (uncompiled; the training loop owns optimiser and loss)."""
    return Img2Music(config.image_dim, config.architecture(), name=config.name)
