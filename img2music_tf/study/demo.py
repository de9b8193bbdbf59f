"""The demo: the paper's whole method on the built-in data, offline, in a few minutes on a 2-core CPU.

Steps (`pipeline`), each writing a sub-folder of the output (a rerun reuses the data when its
inputs are the same, and trains the two models again):
1. `data/`: the built-in set (music21 corpus excerpts, drawn pictures, VA from published
   rules; see `data.builtin`), paired by emotion and split (paper Section 3.1).
2. `va_predictor/`: a small music VA predictor (Wang et al.'s MLP) trained on the
   built-in training music, used by the VA loss and to score the generated music.
3. `run/`: the image-to-music model (preset `Trans_enc3_dec3_VA_Loss`, the paper's
   proposed model, at the `demo` scale of `experiments.SCALES`) trained on the training pairs.
4. `music/sampled/` and `music/greedy/`: music for a few test pictures, decoded
   by seeded top-k sampling (shown first) and greedily (the paper's method): .mid,
   .wav, piano-roll .png, summary.json. After minutes of training, greedy decoding
   often repeats one token (even a rest: silence), the collapse the paper reports
   for its weaker models; sampling shows what the model has learned.

The picture CNN uses random weights (`none`) by default because the ImageNet weights
cannot be downloaded offline; the features are then random projections, so the
music depends on the pictures only weakly. `--image-weights imagenet` needs internet.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from img2music_tf.experiments import SCALES, Scale
from img2music_tf.files import ensure_writable_dir
from img2music_tf.generate import music_from_images, print_pieces
from img2music_tf.models.image_encoder import check_weights
from img2music_tf.models.va_predictor import METRICS_FILE
from img2music_tf.presets import get_preset
from img2music_tf.study import pipeline


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """One demo: its sizes (`scale`, with `n_test`/`n_val` smaller than the paper's 100/16 so most of the
    200 built-in pieces train the model), the model it trains and what it generates."""

    scale: Scale = SCALES["demo"]
    preset: str = "Trans_enc3_dec3_VA_Loss"
    n_generate: int = 4
    sample_top_k: int = 10  # the sampled pieces draw from the 10 most probable tokens
    seed: int = 0


DEMOS = {"full": DemoConfig(), "tiny": DemoConfig(scale=SCALES["demo-tiny"], n_generate=2)}


def run_demo(config: DemoConfig, out: str | Path) -> list:
    """Run the four steps into `out`; print where the results are. Returns the generated pieces."""
    scale = config.scale
    model_config = get_preset(config.preset, scale=scale, epochs=scale.epochs)
    weights = check_weights([model_config.image_features], scale.image_weights)  # before minutes of other work
    scale = scale.replace(image_weights=weights)
    out = ensure_writable_dir(out)
    started = time.perf_counter()
    if weights == "none":
        print("note: the picture CNN uses random weights (--image-weights none): the music can tell pictures apart "
              "but not what they show; the default, torchvision, is ImageNet VGG16 installed offline.")

    _step(1, "built-in data: music from music21's corpus, drawn pictures, paired by emotion and split")
    data = pipeline.prepare_data("builtin", "builtin", out / "data", scale, seed=config.seed, overwrite=True)
    print(data.summary, end="")

    _step(2, "music VA predictor (Wang et al.'s MLP) on the built-in training music")
    va_dir = pipeline.train_va_predictor(data, out / "va_predictor", scale, model_config.va_batchnorm,
                                         seed=config.seed, reuse=False)
    _print_va_figures(va_dir)

    _step(3, f"image-to-music model {config.preset} ({scale.name} scale, {scale.epochs} epoch(s))")
    pipeline.train_model(data, model_config, out / "run", seed=config.seed, image_weights=scale.image_weights,
                         va_predictor=va_dir, max_songs=scale.max_songs, existing="overwrite")

    _step(4, f"music for {config.n_generate} test picture(s): top-k sampling first, then greedy (the paper's "
             "method), which after minutes of training repeats one token for every picture")
    pairs = data.pairs_in("test")
    images = list(dict.fromkeys(pair.image for pair in pairs))[: config.n_generate]
    methods = {"sampled": {"method": "sample", "top_k": config.sample_top_k}, "greedy": {}}
    pieces = []
    for name, generation in methods.items():
        print(f"{name}:")
        made = music_from_images(
            out / "run", [image.path for image in images], out / "music" / name,
            generation={"seed": config.seed, **generation}, image_va=[(im.valence, im.arousal) for im in images],
            va_predictor_dir=va_dir, overwrite=True,
        )
        print_pieces(made, out / "music" / name)
        pieces += made

    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s. Open:")
    print(f"  {out / 'music'}/{{greedy,sampled}}/*.wav   listen (FluidSynth, General MIDI piano)")
    print(f"  {out / 'music'}/{{greedy,sampled}}/*-pianoroll.png   piano rolls; *.mid for any MIDI player or DAW")
    print(f"  {out / 'music'}/{{greedy,sampled}}/summary.json   tokens, notes and VA of every piece")
    print(f"  {out / 'run' / 'history.csv'}   training loss per epoch; {out / 'data' / 'va.png'} the data's VA")
    print(f"More music from any picture: img2music generate PICTURE.jpg --run {out / 'run'} --out DIR")
    return pieces


def _print_va_figures(va_dir: Path) -> None:
    """The VA predictor's test MAE beside the always-the-mean baseline, and how far to trust it."""
    figures = json.loads((va_dir / METRICS_FILE).read_text())
    test, baseline = figures["test"], figures["baseline_train_mean"]["test"]
    print(f"VA predictor test MAE {test['mae_mean']:.2f} (always-the-mean baseline {baseline['mae_mean']:.2f}); "
          "a rough judge on so little data: read the music VA below as illustrative")


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/4] {text}", flush=True)
