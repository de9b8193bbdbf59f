"""The MIDI decoder: merged feature (B, E) -> next-token probabilities (B, V) (Section 3.3.3).

Each "transformer decoder block" of the authors' code is self-attention over a length-1 sequence
(Reshape to (1, D)), Flatten, LayerNorm and Dropout, followed by a Dense ReLU layer. Attention over one
position always has weight 1, so a block is in effect value and output projections; we reproduce it as
written. Dense layers beyond the attention blocks are plain (the "dense layers only" rows have 0 blocks).
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="img2music_tf")
class Decoder(layers.Layer):
    """`units[i]` is the Dense ReLU width after step i; the first `attention_blocks` steps start with attention.

    Authors' trans_enc3_dec3: units (128, 128, 256) with 3 blocks; dec2: (128, 256) with 2; dense only:
    (128, 256) with 0. The output is Dense(vocab_size, softmax).
    """

    def __init__(
        self,
        vocab_size: int,
        units: tuple[int, ...] | list[int],
        attention_blocks: int,
        num_heads: int,
        key_dim: int,
        dropout: float = 0.2,
        layer_norm_epsilon: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = tuple(int(u) for u in units)
        if not 0 <= attention_blocks <= len(units):
            raise ValueError(f"attention_blocks must be between 0 and len(units)={len(units)}, got {attention_blocks}")
        # === Layers ===
        self.attentions = [
            layers.MultiHeadAttention(num_heads, key_dim, name=f"attention_{i}") for i in range(attention_blocks)
        ]
        self.norms = [
            layers.LayerNormalization(epsilon=layer_norm_epsilon, name=f"norm_{i}") for i in range(attention_blocks)
        ]
        self.dropouts = [layers.Dropout(dropout) for _ in range(attention_blocks)]
        self.denses = [layers.Dense(n, activation="relu", name=f"dense_{i}") for i, n in enumerate(units)]
        # float32 even under mixed precision: the probabilities feed the losses and the argmax
        self.output_dense = layers.Dense(vocab_size, activation="softmax", dtype="float32", name="next_token")
        # === Config ===
        self.vocab_size = vocab_size
        self.units = units
        self.attention_blocks = attention_blocks
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, input_shape):
        batch, width = input_shape
        for i, dense in enumerate(self.denses):
            if i < self.attention_blocks:
                self.attentions[i].build((batch, 1, width), (batch, 1, width))
                self.norms[i].build((batch, width))
            dense.build((batch, width))
            width = self.units[i]
        self.output_dense.build((batch, width))
        self.built = True

    def call(self, x, training=None):
        for i, dense in enumerate(self.denses):
            if i < self.attention_blocks:
                sequence = ops.expand_dims(x, 1)  # (B, 1, D)
                x = ops.squeeze(self.attentions[i](sequence, sequence, training=training), 1)  # (B, D)
                x = self.dropouts[i](self.norms[i](x), training=training)
            x = dense(x)  # (B, units[i])
        return self.output_dense(x)  # (B, V)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.vocab_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            units=list(self.units),
            attention_blocks=self.attention_blocks,
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
