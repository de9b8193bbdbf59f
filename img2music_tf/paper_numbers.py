"""The paper's published numbers, to print beside ours (targets to compare against, not to tune to).

Sources: Tables 1 and 2 and Figure 3 of Kundu, Singh, Iwahori (arXiv 2410.22299), and the
authors' results file (docs/fidelity.md, row "Table 2 sample"): Table 2 came from
4 generated pieces; on 100 pieces the same two models gave the Music_Quality_Loss values in
`TABLE2_AUTHORS_100_PIECES`, which reverses the order of the two rows. `AUTHORS_LOG`: every training run
in the authors' log, with its loss per epoch (the paper's Figure 3 draws two of them).
"""

from __future__ import annotations

from dataclasses import dataclass

METRICS = ("music_quality_loss", "polyphony_rate", "pitch_entropy", "groove_consistency")
"""Column order of Tables 1 and 2."""


def _row(quality_loss: float, polyphony: float, entropy: float, groove: float) -> dict[str, float]:
    return dict(zip(METRICS, (quality_loss, polyphony, entropy, groove)))


TABLE1 = {
    "LSTM_enc2": _row(1.9157, 0.0317, 0.1204, 0.9978),
    "Trans_enc3_dec3_VGG": _row(0.8216, 0.6975, 1.9974, 0.9995),
    "Trans_enc3_dec3_Inception": _row(0.8514, 0.6289, 1.3642, 0.9998),
    "Trans_enc4": _row(1.3368, 0.0905, 1.9931, 0.9997),
    "Trans_enc2_dec2": _row(2.0077, 0.0000, 0.0000, 0.9999),
}
"""Table 1: ablation experiments after 2 epochs (how many pieces is not stated)."""

TABLE2 = {
    "Trans_enc3_dec3": _row(1.2853, 0.0087, 2.8137, 0.9997),
    "Trans_enc3_dec3_VA_Loss": _row(0.7061, 0.7818, 3.0932, 0.9998),
}
"""Table 2: validity of the VA loss after 15 epochs (from 4 generated pieces)."""

TABLE2_AUTHORS_100_PIECES = {"Trans_enc3_dec3": 0.9567, "Trans_enc3_dec3_VA_Loss": 1.2158}
"""Music_Quality_Loss of the Table 2 models over 100 generated pieces (the authors' results file)."""

AUTHORS_RESULTS_NOT_IN_THE_PAPER = {
    "Trans_enc2": _row(0.6471, 0.2652, 3.4304, 0.9998),
    "Trans_enc3": _row(0.5657, 0.3469, 3.1407, 0.9998),
    "Trans_enc3_dec3_VA_Loss after 2 epochs": _row(1.7562, 0.0, 1.0, 0.9992),
}
"""Rows of the authors' results file (`Results_music_Quality.txt`) left out of the paper: two models that beat
the proposed Trans_enc3_dec3_VGG (0.8216), and the VA-loss model after 2 epochs (one repeated dyad's numbers)."""

FIGURE3 = {"LSTM_enc2": (6.94, 5.83), "Trans_enc3_dec3_VA_Loss": (5.82, 2.69)}
"""Figure 3: total training loss at epoch 1 and at epoch 15 of each curve."""


@dataclass(frozen=True)
class LoggedRun:
    """One training run in the authors' log (`Loss_Trans_enc3_dec3_VA_loss.txt`, beside midiData.txt in their
    repository): its heading there, the model it trained (our preset's name; Trans_enc2 is none of ours), the
    learning rate its script compiles that model with, and Keras' loss of each epoch (the log's
    "Epoch N: loss improved from A to B" values, B for each epoch).

    The log's progress-bar numbers (e.g. 6.19 at the end of an epoch whose loss is 5.77) are a running mean
    of Keras' running mean, averaged twice, and are not the epoch's loss: compare with `losses` only.
    """

    heading: str
    model: str
    learning_rate: float
    losses: tuple[float, ...]
    note: str = ""


AUTHORS_LOG = (
    LoggedRun("Trans_enc3_dec3_VA_loss", "Trans_enc3_dec3_VA_Loss", 1e-5, (5.77196, 4.90039),
              "a first 2-epoch run"),
    LoggedRun("LSTM_enc2", "LSTM_enc2", 1e-6, (7.04517, 6.76304), "their 3-LSTM model, 2 epochs"),
    LoggedRun("Trans_enc3_DEC3", "Trans_enc3_dec3_VGG", 1e-5, (5.75121, 4.90444)),
    LoggedRun("Trans_enc4", "Trans_enc4", 1e-4, (5.01567, 3.94049)),
    LoggedRun("Trans_enc2", "Trans_enc2", 1e-4, (4.10041, 2.73544),
              "2 encoder blocks, no decoder; not in the paper (results file: 0.6471)"),
    LoggedRun("trans enc3 dec3 inception v3", "Trans_enc3_dec3_Inception", 1e-5, (6.07044, 5.57359)),
    LoggedRun("LSTM_enc2_15 epochs", "LSTM_enc2", 1e-6,
              (6.94345, 6.65932, 6.46854, 6.33793, 6.23134, 6.14835, 6.08619, 6.03603, 5.99751, 5.96270,
               5.93413, 5.90689, 5.88200, 5.85550, 5.83130),
              "their 3-LSTM model; the paper's Figure 3 LSTM curve"),
    LoggedRun("trans enc3 dec3 VA loss", "Trans_enc3_dec3_VA_Loss", 1e-5,
              (5.81881, 4.94465, 4.47973, 4.13094, 3.85639, 3.63305, 3.44999, 3.29722, 3.17200, 3.06265,
               2.97234, 2.88731, 2.81492, 2.75162, 2.68831),
              "the paper's Figure 3 curve"),
    LoggedRun("trans enc3 dec3", "Trans_enc3_dec3", 1e-5,
              (5.73024, 4.89793, 4.45473, 4.12092, 3.85460, 3.63448, 3.44958, 3.29389, 3.16607, 3.05088,
               2.95630, 2.87053, 2.79018, 2.72468, 2.66288),
              "Table 2 without the VA term"),
)
"""Every run in the authors' training log, in the log's order. No run of Trans_enc2_dec2 is logged."""


def logged_curve(model: str, epochs: int = 15) -> LoggedRun:
    """The authors' logged run of `model` with `epochs` epochs (Figure 3's curves have 15)."""
    runs = [run for run in AUTHORS_LOG if run.model == model and len(run.losses) == epochs]
    if len(runs) != 1:
        raise KeyError(f"the authors' log holds {len(runs)} runs of {model} with {epochs} epochs")
    return runs[0]
