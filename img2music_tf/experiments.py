"""The experiment registry: every size an experiment can have, and every paper artefact, by name.

A `Scale` says everything that makes one experiment bigger or smaller: the model's dimensions
(read by `presets.get_preset`), how much data (read by `study.pipeline.prepare_data` and the training
step), how long, which image weights, and the music VA predictor's training. The demo, the
`img2music train --scale` option and the reproduction (`img2music reproduce`, `make table1`) all
take their sizes from `SCALES`; a new size is one entry here.

An `Artefact` is one of the paper's tables or figures: which presets it trains, for how many
epochs, the paper's numbers beside ours, and its kind ("table": generate for the test images and
score the music; "curves": plot the loss per epoch). A new artefact is one entry in `ARTEFACTS`
(plus, for a new kind, its hook in `study/artefacts.py`).

Each distinct model is trained once (`training_plan`): a row whose preset trains to the same
weights as another's (`SAME_WEIGHTS`) reads that preset's run, and a shorter row reads a
longer run's snapshot, since no schedule depends on the epoch count (the song order of an
epoch depends only on seed and epoch). So all three artefacts need five trainings, not nine;
`queue_order` ranks them by the table rows they serve, for a GPU window that may end early; the
queue's file names and limits (`RESULTS_FILE`, `PACK_LIMIT_MIB`, ...) are here too, since `img2music gpu`'s
help names them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from img2music_tf import paper_numbers


@dataclass(frozen=True)
class Scale:
    """One experiment size. None means "the paper's" (or the preset's) wherever a field allows it."""

    name: str
    # --- the model (presets.get_preset)
    embed_dim: int
    num_heads: int
    key_dim: int  # the authors use key_dim = embed_dim per head; smaller scales embed_dim / num_heads
    max_len: int  # longest token sequence: prefixes are cut to it, generation stops there
    learning_rate: float | None  # None: the paper's (or, at fidelity "code", each script's) rate
    image_size: int | str = "native"  # CNN input side: "native" (224/299), "smallest" the CNN accepts, or pixels
    # (raised to the smallest the CNN accepts: VGG16's fc2, fidelity "code", takes 224 px only)
    # --- the data (pipeline.prepare_data)
    n_items: int | None = None  # music pieces and images read from each source (None: all)
    n_test: int = 100  # the paper's split: 100 test, 16 validation, the rest train
    n_val: int = 16
    max_songs: int | None = None  # training songs used (None: the whole training split)
    # --- training
    epochs: int | None = None  # None: the preset's (Table 1: 2, Table 2 and Figure 3: 15)
    image_weights: str = "imagenet"  # CNN weights: imagenet, torchvision, none (random, seeded) or a .h5 file
    # --- the music VA predictor (va_training)
    va_epochs: int | None = None  # None: va_training's default, with early stopping
    va_patience: int = 20
    va_hidden_units: tuple[int, ...] | None = None  # None: Wang et al.'s 1024, 512
    va_batchnorm: bool | None = None  # None: as the run's fidelity says

    def replace(self, **changes) -> "Scale":
        """This scale with some fields changed (command-line overrides); None values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_PAPER = Scale("paper", embed_dim=256, num_heads=4, key_dim=256, max_len=236, learning_rate=None)
_SMOKE = Scale("smoke", embed_dim=64, num_heads=4, key_dim=16, max_len=236, learning_rate=1e-3,
               max_songs=100, image_weights="torchvision")
_TINY = Scale("tiny", embed_dim=16, num_heads=2, key_dim=8, max_len=32, learning_rate=1e-3, image_size="smallest",
              n_items=20, n_test=4, n_val=2, max_songs=8, image_weights="none", va_epochs=2)

SCALES = {
    # The authors' sizes on every training song: meant for a GPU.
    "paper": _PAPER,
    # Minutes on a 2-core CPU. Learning rate 1e-3: the paper's 1e-5 for 2 epochs on a small CPU run moves the
    # weights too little to learn anything visible.
    "smoke": _SMOKE,
    # Unit tests in seconds.
    "tiny": _TINY,
    # `img2music demo`: smoke's model made lighter for the 200 built-in pieces. Attention cost grows with max_len
    # squared; 128 tokens hold 97% of the built-in excerpts (median 68), and the built-in pictures are 128 px.
    # 176 training pieces cannot feed Wang et al.'s 1024/512 VA predictor; without BatchNorm its outputs
    # stayed nearer the 1-9 range on so little data.
    "demo": dataclasses.replace(
        _SMOKE, name="demo", max_len=128, image_size=128, n_items=200, n_test=16, n_val=8, max_songs=None,
        epochs=2, va_epochs=60, va_patience=10, va_hidden_units=(64, 32), va_batchnorm=False,
    ),
    # results/va_alignment (make va-alignment): 16 trainings (4 models, 2 seeds, 2 data regimes) and 32 decodings
    # of the 100 test images in about an hour on a shared 2-core CPU (80 pairs x 10 epochs: 2-6 minutes a
    # training, depending on the load). The pictures are seen at VGG16's native 224 px (the features
    # are computed once, cached, shared with results/image_features); 128 tokens hold 79% of the authors' songs.
    "align": dataclasses.replace(
        _SMOKE, name="align", embed_dim=32, num_heads=2, key_dim=16, max_len=128,
        max_songs=80, epochs=10,
    ),
    # `img2music demo --tiny`: checks the whole pipeline in a minute.
    "demo-tiny": dataclasses.replace(
        _TINY, name="demo-tiny", n_items=10, n_test=2, n_val=2, max_songs=None, epochs=1,
        va_epochs=2, va_patience=10, va_hidden_units=(32, 16), va_batchnorm=False,
    ),
}
REPRODUCTION_SCALES = ("paper", "smoke", "tiny")
"""The scales `img2music reproduce` offers (the demo scales pair the built-in data with a lighter model)."""
DATA_REGIMES = {"authors": ("authors", "emotion6"), "eimg": ("eimg", "emotion6"), "builtin": ("builtin", "builtin")}
"""`--data` of a reproduction -> (music source, image source) for `study.pipeline.prepare_data`: the authors' 2884
training pairs (70 songs; the paper's regime), all EIMG songs (2961 distinct), or the built-in demo set."""


@dataclass(frozen=True)
class Artefact:
    """One paper artefact: which presets it trains, for how many epochs, the paper's numbers, its kind."""

    name: str  # output file stem, e.g. "table1"
    title: str
    presets: tuple[str, ...]
    epochs: int
    kind: str  # "table": generate for the test images and score the music; "curves": loss per epoch
    paper: dict  # preset -> [(source label, {column: value})] (tables) or (epoch-1 loss, last-epoch loss) (curves)
    description: str


ARTEFACTS = {
    "table1": Artefact(
        name="table1",
        title="Table 1: Ablation experiments (after 2 epochs)",
        presets=tuple(paper_numbers.TABLE1),
        epochs=2,
        kind="table",
        paper={preset: [("paper", row)] for preset, row in paper_numbers.TABLE1.items()},
        description="Trains LSTM_enc2 (the Mendis et al. baseline), Trans_enc3_dec3_VGG, Trans_enc3_dec3_Inception, "
                    "Trans_enc4 and Trans_enc2_dec2 for 2 epochs, generates greedily for the test split's images and "
                    "scores the music (polyphony rate, pitch entropy, groove consistency, Music_Quality_Loss).",
    ),
    "table2": Artefact(
        name="table2",
        title="Table 2: Validity of VA loss (after 15 epochs)",
        presets=tuple(paper_numbers.TABLE2),
        epochs=15,
        kind="table",
        paper={
            preset: [
                ("paper (4 pieces)", row),
                ("authors' results file (100 pieces)",
                 {"music_quality_loss": paper_numbers.TABLE2_AUTHORS_100_PIECES[preset]}),
            ]
            for preset, row in paper_numbers.TABLE2.items()
        },
        description="Trains Trans_enc3_dec3 and Trans_enc3_dec3_VA_Loss (the same model trained with "
                    "lambda_va * L_VA + lambda_cc * L_CC) for 15 epochs, generates greedily and scores the music. "
                    "The paper's numbers came from 4 generated pieces; the authors' 100-piece results reverse the "
                    "order of the two rows, so both sample sizes are reported.",
    ),
    "figure3": Artefact(
        name="figure3",
        title="Figure 3: Loss vs epoch, proposed vs baseline model",
        presets=tuple(paper_numbers.FIGURE3),
        epochs=15,
        kind="curves",
        paper=dict(paper_numbers.FIGURE3),
        description="Trains LSTM_enc2 (cross-entropy only) and Trans_enc3_dec3_VA_Loss for 15 epochs (the second "
                    "reuses Table 2's run when it exists) and plots the total loss of every epoch beside the paper's "
                    "curves as the authors' log holds them (LSTM 6.94 -> 5.83: their 3-LSTM model at lr 1e-6, "
                    "which --fidelity code trains; Trans_enc3_dec3 + VA 5.82 -> 2.69).",
    ),
}


SAME_WEIGHTS = {"Trans_enc3_dec3": "Trans_enc3_dec3_VA_Loss", "Trans_enc3_dec3_VGG": "Trans_enc3_dec3_VA_Loss"}
"""Rows whose preset trains to bit-identical weights as another preset: they read that preset's run.
The paper's VA term has no gradient (with and without it the weights end bit-identical, tested in
tests/test_train.py), and Trans_enc3_dec3_VGG is Trans_enc3_dec3 (Table 1 names it after its CNN);
the presets differ only in name, epochs and the VA term (tests/test_presets.py)."""


def trained_preset(preset: str) -> str:
    """The preset whose run gives `preset`'s weights."""
    return SAME_WEIGHTS.get(preset, preset)


def training_plan(epochs_override: int | None = None, artefacts=tuple(ARTEFACTS)) -> dict[str, tuple[int, ...]]:
    """Each preset that `artefacts` train -> the epochs whose weights some of their rows read (the last = its
    length)."""
    plan: dict[str, set[int]] = {}
    for artefact in (ARTEFACTS[name] for name in artefacts):
        for preset in artefact.presets:
            plan.setdefault(trained_preset(preset), set()).add(epochs_override or artefact.epochs)
    return {preset: tuple(sorted(epochs)) for preset, epochs in plan.items()}


def rows_served(trained: str) -> list[str]:
    """The artefact rows ("table2/Trans_enc3_dec3") that read the run of the trained preset `trained`."""
    return [f"{artefact.name}/{preset}" for artefact in ARTEFACTS.values() for preset in artefact.presets
            if trained_preset(preset) == trained]


def queue_order(plan: dict[str, tuple[int, ...]]) -> list[str]:
    """The presets of `plan`, those whose run serves the most artefact rows first (ties in plan order):
    Trans_enc3_dec3_VA_Loss (4 rows), LSTM_enc2 (2), then the presets of Table 1 only."""
    return sorted(plan, key=lambda preset: -len(rows_served(preset)))


@dataclass(frozen=True)
class QueuePart:
    """One group of runs for the GPU queue: the runs the named artefacts train in one data regime at one
    fidelity, for some seeds; `presets` keeps only these trained presets, `epochs` replaces the artefacts'."""

    data: str  # a key of DATA_REGIMES
    seeds: tuple[int, ...] = (0,)
    fidelity: str = "paper"
    artefacts: tuple[str, ...] = tuple(ARTEFACTS)
    presets: tuple[str, ...] | None = None
    epochs: int | None = None

    def plan(self, epochs: int | None = None) -> dict[str, tuple[int, ...]]:
        """Its trained presets -> snapshot epochs (`training_plan`, limited to its artefacts and presets);
        `epochs`: the reproduction's override, where the part names none."""
        plan = training_plan(self.epochs or epochs, self.artefacts)
        return {preset: epochs for preset, epochs in plan.items() if self.presets is None or preset in self.presets}


QUEUES = {
    # A GPU window's queue, in order of value (issue 21): both regimes' runs of every artefact; Table 1's
    # 2-epoch runs over four more seeds in the paper's regime (InceptionV3 stays one seed: with no offline
    # ImageNet weights each seed is another random CNN, whose features would not fit the pack); then the
    # fidelity runs, 2 epochs each: does one of the code's switches close the gap between our epoch-2
    # training loss and the authors' log? Their song order (Trans_enc3_dec3, the log's four agreeing runs),
    # their scripts' learning rates (Trans_enc4 and Trans_enc2_dec2 at 1e-4, LSTM_enc2 at 1e-6). Their fc2
    # features (fidelities "fc2" and "code") need Keras' ImageNet VGG16: torchvision's offline weights hold
    # its convolutions only, so they are not queued here.
    "paper": (
        QueuePart("authors"),
        QueuePart("eimg"),
        QueuePart("authors", seeds=(1, 2, 3, 4), artefacts=("table1",),
                  presets=("Trans_enc3_dec3_VA_Loss", "LSTM_enc2", "Trans_enc4", "Trans_enc2_dec2")),
        QueuePart("authors", fidelity="file-order", artefacts=("table1",), presets=("Trans_enc3_dec3_VA_Loss",),
                  epochs=2),
        QueuePart("authors", fidelity="script-rates", artefacts=("table1",),
                  presets=("Trans_enc4", "Trans_enc2_dec2", "LSTM_enc2"), epochs=2),
    ),
}
"""Named GPU queues (`img2music gpu pack --queue NAME`), each a sequence of `QueuePart`s in order of value."""

KEEP_WEIGHTS = (("eimg", "paper", "Trans_enc3_dec3_VA_Loss", 0),)
"""(data, fidelity, trained preset, seed) of the runs whose final weights a GPU queue brings back (bf16): the
EIMG regime's 15-epoch Trans_enc3_dec3, a candidate for the shipped model."""

RESULTS_FILE = "results.json"  # what `img2music gpu run` writes into its --out
PACK_LIMIT_MIB = 40  # the GPU machine takes 64 MiB in all: the tracked repository (~15 MiB: results, shipped models) and the wheels (~5 MiB) too
FEATURE_DTYPES = ("float32", "float16")  # how a pack stores image features
LATE, ALL = "late", "all"  # which batch layouts of a queue entry a rehearsal (`gpu warm`) compiles
