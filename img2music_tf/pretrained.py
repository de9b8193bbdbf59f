"""The trained model shipped inside the package: `img2music generate photo.jpg --out DIR` needs no training.

`make pretrained` (`python reproduce/pretrained.py`) trains it from EIMG + Emotion6 on a 2-core CPU
and copies the run's config.json, vocabulary.json and model.keras into `MODEL_FOLDER`; the README's
model card gives its data, size, image weights (`torchvision`, ImageNet VGG16 installed offline) and figures on the 100 test images. Greedy
decoding collapses at this size (one repeated token for every picture), so its default decoding is
the seeded top-k sampling in `DEFAULT_GENERATION`, chosen by measurement (results/pretrained.md), with
the length rule of `decode.generate_tokens`: a piece with fewer than `min_notes` notes or shorter than
`min_seconds` (top-10 pieces often end after a few notes) is sampled again with the next seed, up to
`tries` seeds.
"""

from __future__ import annotations

from pathlib import Path

from img2music_tf.errors import UserError

MODEL_FOLDER = Path(__file__).resolve().parent / "pretrained_model"
VA_PREDICTOR_FOLDER = Path(__file__).resolve().parent / "pretrained_va"  # a small music VA predictor (make pretrained-va)
DEFAULT_GENERATION = {"method": "sample", "top_k": 10, "temperature": 1.0, "seed": 0, "tries": 20, "min_notes": 32,
                      "min_seconds": 15.0}
RUN_GENERATION = {"method": "greedy", "top_k": 0, "temperature": 1.0, "seed": 0, "tries": 1, "min_notes": 1,
                  "min_seconds": 0.0}  # any other run: the paper's greedy decoding
SHIPPED_FILES = ("config.json", "vocabulary.json", "model.keras", "history.csv")


def generation_settings(shipped: bool, **given) -> dict:
    """The decoding settings for the shipped model (`DEFAULT_GENERATION`) or another run (`RUN_GENERATION`),
    with the choices `given` (None: not given) on top: what `img2music generate` and the page both use."""
    return {**(DEFAULT_GENERATION if shipped else RUN_GENERATION),
            **{key: value for key, value in given.items() if value is not None}}


def va_predictor_folder() -> Path | None:
    """The small music VA predictor shipped in the package (every piece's VA is printed with it when the run
    names none), or None in a checkout without one."""
    return VA_PREDICTOR_FOLDER if (VA_PREDICTOR_FOLDER / "va_predictor.keras").is_file() else None


def model_folder() -> Path:
    """The shipped run folder, or a UserError saying how to get one."""
    if not (MODEL_FOLDER / "model.keras").is_file():
        raise UserError("this installation ships no trained model: pass --run RUN_DIR (train one with "
                        "`img2music train` or `img2music demo`), or build one with `make pretrained`")
    return MODEL_FOLDER
