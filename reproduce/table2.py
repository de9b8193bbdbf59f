"""Table 2 of the paper: validity of the VA loss after 15 epochs.

Trains Trans_enc3_dec3 and Trans_enc3_dec3_VA_Loss (the same model trained with
lambda_va * L_VA + lambda_cc * L_CC; its music VA predictor is trained once and reused) for
15 epochs, generates greedily for the test split's images and scores the music. The paper's
numbers came from 4 generated pieces; the authors' 100-piece results reverse the order of the two
rows, so both sample sizes are reported. Writes results/table2.json and results/table2.md.

    python reproduce/table2.py --scale smoke --seeds 1     # 2-core CPU
    python reproduce/table2.py --scale paper --seeds 3     # GPU; mean and spread across 3 seeds
"""

from __future__ import annotations

import sys

from common import Artefact, main, run_artefact
from paper_numbers import TABLE2, TABLE2_AUTHORS_100_PIECES

ARTEFACT = Artefact(
    name="table2",
    title="Table 2: Validity of VA loss (after 15 epochs)",
    presets=tuple(TABLE2),
    epochs=15,
)
PAPER_ROWS = {
    preset: [
        ("paper (4 pieces)", row),
        ("authors' results file (100 pieces)", {"music_quality_loss": TABLE2_AUTHORS_100_PIECES[preset]}),
    ]
    for preset, row in TABLE2.items()
}


def run(settings) -> dict:
    return run_artefact(ARTEFACT, settings, PAPER_ROWS)


if __name__ == "__main__":
    sys.exit(main(ARTEFACT, __doc__, run))
