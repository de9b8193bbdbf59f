"""MIDI encoders: token ids (B, T) -> one vector (B, E) per sequence (Section 3.3.2, and the Mendis baseline).

Both embed the ids (`PAD_ID` 0 = padding) and ignore padding, so a prefix gives the same vector however much
padding surrounds it (the authors left-pad prefixes to 236 tokens): the transformer through an explicit mask, the
LSTM by reading its real ids first (see `LSTMEncoder`).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from img2music_tf.vocabulary import PAD_ID


@keras.saving.register_keras_serializable(package="img2music_tf")
class TransformerEncoder(layers.Layer):
    """Embedding -> Dropout -> N x [self-attention -> LayerNorm -> Dropout] -> masked global average pooling.

    The blocks follow the authors' code: no residual connection, no feed-forward sublayer, no positional
    encoding (so the encoder sees the prefix as a set of tokens). The sequence needs at least one non-padding id.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_blocks: int,
        num_heads: int,
        key_dim: int,
        dropout: float = 0.2,
        layer_norm_epsilon: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Layers ===
        self.embedding = layers.Embedding(vocab_size, embed_dim, name="embedding")
        self.embedding_dropout = layers.Dropout(dropout)
        self.attentions = [
            layers.MultiHeadAttention(num_heads, key_dim, name=f"attention_{i}") for i in range(num_blocks)
        ]
        self.norms = [
            layers.LayerNormalization(epsilon=layer_norm_epsilon, name=f"norm_{i}") for i in range(num_blocks)
        ]
        self.dropouts = [layers.Dropout(dropout) for _ in range(num_blocks)]
        self.pooling = layers.GlobalAveragePooling1D()
        # === Config ===
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.num_blocks = num_blocks
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, tokens_shape):
        self.embedding.build(tokens_shape)
        sequence_shape = (*tokens_shape, self.embed_dim)
        for attention, norm in zip(self.attentions, self.norms):
            attention.build(sequence_shape, sequence_shape)
            norm.build(sequence_shape)
        self.built = True

    def call(self, tokens, training=None):
        mask = ops.not_equal(tokens, PAD_ID)  # (B, T)
        x = self.embedding_dropout(self.embedding(tokens), training=training)  # (B, T, E)
        for attention, norm, dropout in zip(self.attentions, self.norms, self.dropouts):
            x = attention(x, x, query_mask=mask, value_mask=mask, training=training)  # (B, T, E)
            x = dropout(norm(x), training=training)
        return self.pooling(x, mask=mask)  # (B, E)

    def compute_output_shape(self, tokens_shape):
        return (tokens_shape[0], self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embed_dim=self.embed_dim,
            num_blocks=self.num_blocks,
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config


@keras.saving.register_keras_serializable(package="img2music_tf")
class LSTMEncoder(layers.Layer):
    """Embedding -> Dropout -> stacked LSTMs, Dropout before the last; returns the last LSTM's final state.

    Mendis et al. (the paper's baseline, `fidelity="paper"`): LSTM 128 (sequences) -> Dropout -> LSTM 256.
    The authors' script (`fidelity="code"`): LSTM 128 -> LSTM 256 (sequences) -> Dropout -> LSTM 256.

    The authors' masked LSTM over a left-padded prefix skips the padding: its final state is that of the real
    ids alone, read from a zero state. This layer computes the same thing another way: it moves each row's
    real ids to the front (in order), runs the LSTMs without a mask, and reads each row's output at its last
    real id. An LSTM is causal, so what follows that position (padding) cannot change it. Without a mask,
    Keras runs the LSTMs through cuDNN on a GPU (TensorFlow, and JAX via `jax.experimental.rnn`) instead of
    a step-by-step loop; on a CPU the loop only drops the masking. Dropout draws its masks over the moved
    ids: the same method with other random draws. A row without real ids encodes to zeros, as the masked
    LSTM's zero state.
    """

    def __init__(
        self, vocab_size: int, embed_dim: int, units: tuple[int, ...] | list[int], dropout: float = 0.2, **kwargs
    ):
        super().__init__(**kwargs)
        units = tuple(int(u) for u in units)
        # === Layers ===
        self.embedding = layers.Embedding(vocab_size, embed_dim, name="embedding")
        self.embedding_dropout = layers.Dropout(dropout)
        self.lstms = [layers.LSTM(n, return_sequences=True, name=f"lstm_{i}") for i, n in enumerate(units)]
        self.last_dropout = layers.Dropout(dropout)
        # === Config ===
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.units = units
        self.dropout = dropout

    def build(self, tokens_shape):
        self.embedding.build(tokens_shape)
        width = self.embed_dim
        for lstm, n in zip(self.lstms, self.units):
            lstm.build((*tokens_shape, width))
            width = n
        self.built = True

    def call(self, tokens, training=None):
        real = ops.not_equal(tokens, PAD_ID)  # (B, T)
        positions = ops.arange(ops.shape(tokens)[1], dtype="int32")[None, :]  # (1, T)
        order = ops.argsort(ops.where(real, positions, positions + ops.shape(tokens)[1]), axis=1)  # (B, T)
        front = ops.take_along_axis(tokens, order, axis=1)  # (B, T): real ids first, in order, then padding
        x = self.embedding_dropout(self.embedding(front), training=training)  # (B, T, E)
        for i, lstm in enumerate(self.lstms):
            if i == len(self.lstms) - 1:
                x = self.last_dropout(x, training=training)
            x = lstm(x, training=training)  # (B, T, units)
        count = ops.sum(ops.cast(real, "int32"), axis=1)  # (B,) real ids per row
        last = ops.take_along_axis(x, ops.maximum(count - 1, 0)[:, None, None], axis=1)[:, 0]  # (B, units)
        return ops.where((count > 0)[:, None], last, ops.zeros_like(last))  # (B, units)

    def compute_output_shape(self, tokens_shape):
        return (tokens_shape[0], self.units[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size, embed_dim=self.embed_dim, units=list(self.units), dropout=self.dropout
        )
        return config
