"""A tiny untrained run folder, written as `training_run.train_run` writes one, in a second instead of a training."""

from __future__ import annotations

from pathlib import Path

from conftest import SEED

TOKENS = ["<start>", "100.0@tempo", "4/4@time", "C4@1.0", "E4@0.5", "G4@2.0", "r@1.0", "<end>"]


def write_tiny_run(folder: Path, preset: str = "Trans_enc3_dec3") -> Path:
    """config.json (with the vocabulary's sha256), vocabulary.json and model.keras of a tiny seeded net of
    `preset`."""
    import keras

    from img2music_tf.models.img2music import build_model
    from img2music_tf.presets import get_preset
    from img2music_tf.run_folder import MODEL_FILE, VOCABULARY_FILE, RunInfo, save_model
    from img2music_tf.vocabulary import Vocabulary

    vocabulary = Vocabulary.build([TOKENS])
    config = get_preset(preset, scale="tiny", vocab_size=len(vocabulary))
    folder.mkdir(parents=True)
    keras.utils.set_random_seed(SEED)
    save_model(build_model(config), folder / MODEL_FILE)
    vocabulary.save(folder / VOCABULARY_FILE)
    RunInfo(model=config, seed=SEED, backend=keras.backend.backend(), keras=keras.__version__, image_weights="none",
            data={}, va_predictor=None, max_songs=None, vocabulary_sha256=vocabulary.sha256).write(folder)
    return folder
