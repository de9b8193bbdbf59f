"""Figure 3 of the paper: total training loss per epoch, LSTM baseline vs Trans_enc3_dec3 + VA loss.

Trains LSTM_enc2 (cross-entropy only) and Trans_enc3_dec3_VA_Loss (lambda_va * L_VA + lambda_cc * L_CC)
for 15 epochs on the pairs of `--data` (authors by default, or eimg) - the second reuses table2.py's run -
and plots the total loss of every epoch from the runs' history.csv beside the paper's curves, every
epoch as the authors' log holds them (LSTM 6.94 -> 5.83: their 3-LSTM model at lr 1e-6, which
`--fidelity code` trains; Trans_enc3_dec3 + VA 5.82 -> 2.69; `paper_numbers.AUTHORS_LOG`). Writes
results/<data>/figure3.png, figure3.json (the curves) and figure3.md.

    python reproduce/figure3.py --scale smoke --seeds 1
"""

import sys

from img2music_tf.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "figure3", *sys.argv[1:]]))
