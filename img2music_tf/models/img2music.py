"""The whole image-to-music model (Figure 1): image feature + token prefix -> next-token probabilities.

Inputs `{"image": (B, F) float32 CNN features, "tokens": (B, T) int32 prefix ids, 0 = padding}`, output
(B, V) softmax. The CNN itself stays outside (features are precomputed and cached, see `image_encoder`),
as in the authors' code, whose trans_enc3_dec3 has 6,898,130 parameters with 4096-d VGG16 features.
"""

from __future__ import annotations

import keras
from keras import layers

from img2music_tf.models.decoder import Decoder
from img2music_tf.models.midi_encoder import LSTMEncoder, TransformerEncoder


@keras.saving.register_keras_serializable(package="img2music_tf")
class Img2Music(keras.Model):
    """Image branch (Dropout -> Dense ReLU) + MIDI encoder, added, then the decoder (Sections 3.3.1-3.3.3).

    `midi_encoder` is "transformer" (`encoder_blocks` attention blocks) or "lstm" (`lstm_units`, whose last
    width must equal `embed_dim` for the Add merge).
    """

    def __init__(
        self,
        image_dim: int,
        vocab_size: int,
        embed_dim: int = 256,
        midi_encoder: str = "transformer",
        encoder_blocks: int = 3,
        lstm_units: tuple[int, ...] | list[int] = (),
        decoder_units: tuple[int, ...] | list[int] = (128, 128, 256),
        decoder_blocks: int = 3,
        num_heads: int = 4,
        key_dim: int = 256,
        image_dropout: float = 0.5,
        dropout: float = 0.2,
        layer_norm_epsilon: float = 1e-6,
        **kwargs,
    ):
        # === Layers ===
        self.image_dropout = layers.Dropout(image_dropout, name="image_dropout")
        self.image_projection = layers.Dense(embed_dim, activation="relu", name="image_projection")
        if midi_encoder == "transformer":
            self.midi_encoder = TransformerEncoder(
                vocab_size, embed_dim, encoder_blocks, num_heads, key_dim, dropout, layer_norm_epsilon,
                name="midi_encoder",
            )
        elif midi_encoder == "lstm":
            self.midi_encoder = LSTMEncoder(vocab_size, embed_dim, lstm_units, dropout, name="midi_encoder")
        else:
            raise ValueError(f"midi_encoder must be 'transformer' or 'lstm', got {midi_encoder!r}")
        self.merge = layers.Add(name="merge")
        self.decoder = Decoder(
            vocab_size, decoder_units, decoder_blocks, num_heads, key_dim, dropout, layer_norm_epsilon,
            name="decoder",
        )

        # === Functional Model ===
        image = keras.Input(shape=(image_dim,), dtype="float32", name="image")  # (B, F)
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")  # (B, T)
        image_vector = self.image_projection(self.image_dropout(image))  # (B, E)
        midi_vector = self.midi_encoder(tokens)  # (B, E)
        probabilities = self.decoder(self.merge([image_vector, midi_vector]))  # (B, V)
        super().__init__(inputs={"image": image, "tokens": tokens}, outputs=probabilities, **kwargs)

        # === Config ===
        self.image_dim = image_dim
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.midi_encoder_kind = midi_encoder
        self.encoder_blocks = encoder_blocks
        self.lstm_units = tuple(lstm_units)
        self.decoder_units = tuple(decoder_units)
        self.decoder_blocks = decoder_blocks
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.image_dropout_rate = image_dropout
        self.dropout_rate = dropout
        self.layer_norm_epsilon = layer_norm_epsilon

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_dim": self.image_dim,
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "midi_encoder": self.midi_encoder_kind,
            "encoder_blocks": self.encoder_blocks,
            "lstm_units": list(self.lstm_units),
            "decoder_units": list(self.decoder_units),
            "decoder_blocks": self.decoder_blocks,
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "image_dropout": self.image_dropout_rate,
            "dropout": self.dropout_rate,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_model(config) -> Img2Music:
    """The model of a `presets.ModelConfig` (uncompiled; the training loop owns optimiser and loss)."""
    return Img2Music(
        image_dim=config.image_dim,
        vocab_size=config.vocab_size,
        embed_dim=config.embed_dim,
        midi_encoder=config.midi_encoder,
        encoder_blocks=config.encoder_blocks,
        lstm_units=config.lstm_units,
        decoder_units=config.decoder_units,
        decoder_blocks=config.decoder_blocks,
        num_heads=config.num_heads,
        key_dim=config.key_dim,
        image_dropout=config.image_dropout,
        dropout=config.dropout,
        layer_norm_epsilon=config.layer_norm_epsilon,
        name=config.name,
    )
