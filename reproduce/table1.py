"""Table 1 of the paper: ablation experiments after 2 epochs.

Trains LSTM_enc2 (the Mendis et al. baseline), Trans_enc3_dec3_VGG, Trans_enc3_dec3_Inception,
Trans_enc4 and Trans_enc2_dec2 for 2 epochs on the pairs of `--data` (default `authors`: the authors'
training pairs with Emotion6 images; `eimg`: every EIMG song), generates greedily for the test split's
images and scores the music (polyphony rate, pitch entropy, groove consistency, Music_Quality_Loss).
Writes results/<data>/table1.json (per piece and aggregate) and results/<data>/table1.md (the paper's
numbers beside ours).

    python reproduce/table1.py --scale smoke --seeds 1     # 2-core CPU, minutes
    python reproduce/table1.py --scale paper               # the paper's sizes, meant for a GPU
"""

import sys

from img2music_tf.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "table1", *sys.argv[1:]]))
