"""Table 2 of the paper: validity of the VA loss after 15 epochs.

Trains Trans_enc3_dec3 and Trans_enc3_dec3_VA_Loss (the same model trained with
lambda_va * L_VA + lambda_cc * L_CC; its music VA predictor is trained once and reused) for
15 epochs, generates greedily for the test split's images and scores the music. The paper's
numbers came from 4 generated pieces; the authors' 100-piece results reverse the order of the two
rows, so both sample sizes are reported. Writes results/<data>/table2.json and .md (`--data`: authors
by default, or eimg).

    python reproduce/table2.py --scale smoke --seeds 1     # 2-core CPU
    python reproduce/table2.py --scale paper --seeds 3     # GPU; mean and spread across 3 seeds
"""

import sys

from img2music_tf.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "table2", *sys.argv[1:]]))
