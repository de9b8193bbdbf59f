"""The demo: the paper's whole method on the built-in data, offline, in a few minutes on a 2-core CPU.

Steps, each writing a sub-folder of the output (a rerun reuses the data when its inputs
are the same, and trains the two models again):
1. `data/`: the built-in set (music21 corpus excerpts, drawn pictures, VA from published
   rules; see `data.builtin`), paired by emotion and split (paper Section 3.1).
2. `va_predictor/`: a small music VA predictor (Wang et al.'s MLP) trained on the
   built-in training music, used by the VA loss and to score the generated music.
3. `run/`: the image-to-music model (preset `Trans_enc3_dec3_VA_Loss`, the paper's
   proposed model, at smoke scale made lighter: see `DemoConfig`) trained on the
   training pairs.
4. `music/greedy/` and `music/sampled/`: music for a few test pictures, decoded
   greedily (the paper's method) and by seeded top-k sampling: .mid, .wav,
   piano-roll .png, summary.json. After minutes of training, greedy decoding
   often repeats one token (even a rest: silence), the collapse the paper reports
   for its weaker models; sampling shows what the model has learned.

The picture CNN uses random weights (`none`) by default because the ImageNet weights
cannot be downloaded offline; the features are then random projections, so the
music depends on the pictures only weakly. `--image-weights imagenet` needs internet.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from img2music_tf.files import ensure_writable_dir


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Sizes of one demo, chosen to finish in a few minutes on a 2-core CPU.

    `n_test`/`n_val` are smaller than the paper's 100/16 so most of the 200 built-in
    pieces train the model. The model is the preset at `scale` with `max_len`,
    `key_dim` and `image_size` replaced: attention cost grows with key_dim and
    max_len squared (smoke's key_dim 64 at 236 tokens takes seconds per song on 2
    cores); 128 tokens hold 97% of the built-in excerpts (median 68), and the
    built-in pictures are 128 px.
    """

    n_music: int = 200
    n_images: int = 200
    n_test: int = 16
    n_val: int = 8
    preset: str = "Trans_enc3_dec3_VA_Loss"
    scale: str = "smoke"
    max_len: int | None = 128  # None: the preset's
    key_dim: int | None = 16
    image_size: int | None = 128
    epochs: int = 2  # as in the paper's Table 1
    n_generate: int = 4
    sample_top_k: int = 10  # the sampled pieces draw from the 10 most probable tokens
    va_hidden_units: tuple[int, ...] = (64, 32)  # 176 training pieces cannot feed Wang et al.'s 1024/512
    va_fidelity: str = "code"  # no BatchNorm: with so little data it stayed nearer the 1-9 range
    va_epochs: int = 60
    image_weights: str = "none"
    seed: int = 0


DEMOS = {
    "full": DemoConfig(),
    "tiny": DemoConfig(n_music=10, n_images=10, n_test=2, n_val=2, scale="tiny", max_len=None, key_dim=None,
                       image_size=None, epochs=1, n_generate=2, va_hidden_units=(32, 16), va_epochs=2),
}


def run_demo(config: DemoConfig, out: str | Path) -> list:
    """Run the four steps into `out`; print where the results are. Returns the generated pieces."""
    from img2music_tf.data.prepare import prepare
    from img2music_tf.generate import music_from_images, print_pieces
    from img2music_tf.presets import get_preset
    from img2music_tf.train import train_run

    out = ensure_writable_dir(out)
    started = time.perf_counter()
    if config.image_weights == "none":
        print("note: the picture CNN uses random weights (--image-weights none), because ImageNet weights cannot be "
              "downloaded offline; with internet, run `img2music demo --image-weights imagenet`.")

    _step(1, "built-in data: music from music21's corpus, drawn pictures, paired by emotion and split")
    data = prepare(music="builtin", images="builtin", out=out / "data", seed=config.seed, n_test=config.n_test,
                   n_val=config.n_val, n_music=config.n_music, n_images=config.n_images, overwrite=True)
    print(data.summary, end="")

    _step(2, "music VA predictor (Wang et al.'s MLP) on the built-in training music")
    va_dir = train_va_predictor(data, config, out / "va_predictor")

    lighter = {k: getattr(config, k) for k in ("max_len", "key_dim", "image_size") if getattr(config, k) is not None}
    model_config = get_preset(config.preset, scale=config.scale, epochs=config.epochs, **lighter)
    _step(3, f"image-to-music model {config.preset} ({config.scale} scale, {config.epochs} epoch(s))")
    train_run(data, model_config, out / "run", seed=config.seed, image_weights=config.image_weights,
              va_predictor_dir=va_dir, overwrite=True)

    _step(4, f"music for {config.n_generate} test picture(s): greedy (the paper's method) and top-k sampling")
    pairs = data.pairs_in("test")
    images = list(dict.fromkeys(pair.image for pair in pairs))[: config.n_generate]
    methods = {"greedy": {}, "sampled": {"method": "sample", "top_k": config.sample_top_k}}
    pieces = []
    for name, generation in methods.items():
        print(f"{name}:")
        made = music_from_images(
            out / "run", [image.path for image in images], out / "music" / name,
            generation={"seed": config.seed, **generation}, image_va=[(im.valence, im.arousal) for im in images],
            va_predictor_dir=va_dir,
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


def train_va_predictor(data, config: DemoConfig, out: Path) -> Path:
    """Train the music VA predictor on the prepared split's music into `out`; print its test figures."""
    from img2music_tf.models.va_predictor import VAPredictorConfig
    from img2music_tf.va_training import VATrainConfig, load_examples
    from img2music_tf.va_training import train_va_predictor as fit

    va_config = VAPredictorConfig(fidelity=config.va_fidelity, hidden_units=config.va_hidden_units)
    examples, _ = load_examples(data.music, va_config)
    predictor, figures = fit(
        examples, data.split, va_config, VATrainConfig(epochs=config.va_epochs, patience=10, seed=config.seed)
    )
    predictor.save(out, figures)
    test, baseline = figures["test"], figures["baseline_train_mean"]["test"]
    print(f"VA predictor test MAE {test['mae_mean']:.2f} (always-the-mean baseline {baseline['mae_mean']:.2f}); "
          "a rough judge on so little data: read the music VA below as illustrative")
    return out


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/4] {text}", flush=True)
