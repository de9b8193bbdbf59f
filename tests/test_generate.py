"""Generation from image features: greedy/sampled decoding, batching, determinism, the padding rule."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import SEED

from img2music_tf.errors import UserError
from img2music_tf.decode import GenerationConfig, generate_ids, next_token_ids

V, F, T = 7, 5, 12  # tiny vocabulary, feature size, prefix length
PAD, START, END = 0, 1, 2


def random_model(seed=SEED):
    """An untrained image+prefix -> next-token model: embedding (masked) + image branch, softmax over V."""
    import keras

    keras.utils.set_random_seed(seed)
    image = keras.Input((F,), name="image")
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(V, 16, mask_zero=True)(tokens)  # (B, T, 16)
    x = keras.layers.GlobalAveragePooling1D()(x)  # (B, 16)
    y = keras.layers.Dense(16)(image)  # (B, 16)
    probs = keras.layers.Dense(V, activation="softmax")(keras.layers.Add()([x, y]))  # (B, V)
    return keras.Model({"image": image, "tokens": tokens}, probs)


class RuleModel:
    """A model with a known answer: token 3 until the prefix holds `image[0]` ids, then END.

    If `favour_pad`, the padding id gets almost all the probability (generation must skip it).
    """

    def __init__(self, favour_pad=False):
        self.favour_pad = favour_pad

    def predict_on_batch(self, inputs):
        lengths = (inputs["tokens"] != PAD).sum(axis=1)  # (B,)
        limits = inputs["image"][:, 0]  # (B,)
        probs = np.full((len(lengths), V), 0.01, dtype="float32")  # (B, V)
        probs[np.arange(len(lengths)), np.where(lengths >= limits, END, 3)] = 0.5
        if self.favour_pad:
            probs[:, PAD] = 0.9
        return probs


def test_greedy_stops_at_end_and_finished_sequences_stop_growing():
    features = np.zeros((3, F), dtype="float32")
    features[:, 0] = [2, 5, 50]  # third never reaches its limit: cut at max_len
    out = generate_ids(RuleModel(), features, START, END, GenerationConfig(max_len=10), progress=False)
    assert out[0] == [START, 3, END]
    assert out[1] == [START, 3, 3, 3, 3, END]
    assert out[2] == [START] + [3] * 9
    assert all(len(ids) <= 10 for ids in out)


def test_padding_id_is_never_emitted():
    features = np.full((2, F), 4, dtype="float32")
    for config in (GenerationConfig(max_len=8), GenerationConfig(method="sample", seed=SEED, max_len=8)):
        out = generate_ids(RuleModel(favour_pad=True), features, START, END, config, progress=False)
        assert all(PAD not in ids for ids in out)


def test_one_model_call_per_step_for_the_whole_batch():
    class Counting(RuleModel):
        calls = []

        def predict_on_batch(self, inputs):
            self.calls.append(len(inputs["tokens"]))
            return super().predict_on_batch(inputs)

    model = Counting()
    features = np.zeros((4, F), dtype="float32")
    features[:, 0] = [1, 3, 3, 6]
    out = generate_ids(model, features, START, END, GenerationConfig(max_len=20), progress=False)
    assert max(len(ids) for ids in out) == 7  # longest: START + 5 x token 3 + END
    assert model.calls == [4] * 6  # one call per step, all rows, until the longest has ended
    assert [len(ids) for ids in out] == [2, 4, 4, 7]  # finished sequences stopped growing


@pytest.mark.parametrize("name", ["Trans_enc3_dec3", "LSTM_enc2"])
def test_padding_to_the_current_length_gives_the_music_of_padding_to_max_len(name):
    """Generation pads prefixes to the longest one (rounded to a bucket), not to max_len: padding is masked."""
    from img2music_tf.models.img2music import build_model
    from img2music_tf.presets import get_preset

    import keras

    keras.utils.set_random_seed(SEED)
    config = get_preset(name, scale="tiny", vocab_size=V, max_len=40)
    model = build_model(config)
    features = np.random.default_rng(SEED).normal(size=(3, config.image_dim)).astype("float32")
    for method in ("greedy", "sample"):
        generation = GenerationConfig(method=method, max_len=config.max_len, seed=SEED)
        never = V  # an end id the model cannot emit: every piece runs to max_len, through 5 buckets of 8
        bucketed = generate_ids(model, features, START, never, generation, progress=False, bucket=8)
        full = generate_ids(model, features, START, never, generation, progress=False, bucket=None)
        assert bucketed == full and list(map(len, full)) == [config.max_len] * 3


def test_compiled_step_gives_the_models_numbers_and_music_with_one_trace():
    """`compiled_step` (what `music_from_images` decodes with) gives Keras' predict_on_batch numbers and the
    same music, traced once."""
    from img2music_tf.batches import BUCKET
    from img2music_tf.decode import compiled_step, prefix_bucket
    from img2music_tf.models.img2music import build_model
    from img2music_tf.presets import get_preset

    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("compiled_step compiles on TensorFlow only")
    keras.utils.set_random_seed(SEED)
    config = get_preset("Trans_enc3_dec3", scale="tiny", vocab_size=V, max_len=40)
    model = build_model(config)
    step = compiled_step(model)
    features = np.random.default_rng(SEED).normal(size=(3, config.image_dim)).astype("float32")
    tokens = np.random.default_rng(SEED).integers(0, V, size=(3, 9)).astype("int32")
    tokens[:, -1] = START  # a prefix that is all padding is never fed
    inputs = {"image": features, "tokens": tokens}
    # the same numbers up to float32 rounding (the traced graph may fuse the ops another way: ~6e-8 seen)
    np.testing.assert_allclose(step.predict_on_batch(inputs), np.asarray(model.predict_on_batch(inputs)),
                               rtol=1e-5, atol=1e-7)
    for method in ("greedy", "sample"):
        generation = GenerationConfig(method=method, max_len=config.max_len, seed=SEED)
        never = V  # no end: every piece runs through 5 prefix lengths of 8
        assert generate_ids(step, features, START, never, generation, progress=False, bucket=8) == generate_ids(
            model, features, START, never, generation, progress=False, bucket=8)
    assert step.function.experimental_get_tracing_count() == 1
    assert prefix_bucket(step) == BUCKET  # a plain tf.function, not XLA


def test_decoding_pads_to_max_len_where_xla_compiles_and_to_buckets_elsewhere():
    import keras

    from img2music_tf.batches import BUCKET
    from img2music_tf.decode import prefix_bucket

    model = random_model()
    model.jit_compile = True
    assert prefix_bucket(model) is None
    model.jit_compile = False
    assert prefix_bucket(model) == BUCKET
    assert prefix_bucket(random_model()) == (None if keras.backend.backend() == "jax" else BUCKET)


def test_decoding_under_jax_compiles_one_program_through_several_buckets():
    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("counts XLA compilations: JAX only (KERAS_BACKEND=jax)")
    from img2music_tf.study.gpu_run import Compilations
    from img2music_tf.decode import generate_tokens
    from img2music_tf.vocabulary import Vocabulary

    vocabulary = Vocabulary.build([["C4@1.0", "E4@0.5", "G4@2.0", "r@0.5"]])  # V = 7 ids: 4 tokens, pad, start, end
    assert len(vocabulary) == V
    model = random_model()
    features = np.random.default_rng(SEED).normal(size=(3, F)).astype("float32")
    with Compilations() as compilations:
        pieces = generate_tokens(model, features, vocabulary, GenerationConfig(max_len=70), progress=False)
    assert max(map(len, pieces)) > 33  # past the first bucket of 32
    assert compilations.count == 1  # buckets of 32 would compile 2 or 3 programs


def test_batched_greedy_equals_one_by_one():
    model = random_model()
    features = np.random.default_rng(SEED).normal(size=(6, F)).astype("float32")
    config = GenerationConfig(max_len=T + 4)  # longer than the prefix window: the last T ids stay in view
    batched = generate_ids(model, features, START, END, config, prefix_len=T, progress=False)
    single = [generate_ids(model, f[None], START, END, config, prefix_len=T, progress=False)[0] for f in features]
    assert batched == single
    assert all(ids[0] == START and PAD not in ids and len(ids) <= T + 4 for ids in batched)


def test_greedy_ignores_seed_and_sampling_is_deterministic_per_seed():
    model = random_model()
    features = np.random.default_rng(SEED).normal(size=(4, F)).astype("float32")
    greedy = [generate_ids(model, features, START, END, GenerationConfig(max_len=T, seed=s), progress=False)
              for s in (0, 1)]
    assert greedy[0] == greedy[1]
    sample = GenerationConfig(method="sample", temperature=1.5, max_len=T, seed=SEED)
    first = generate_ids(model, features, START, END, sample, progress=False)
    again = generate_ids(model, features, START, END, sample, progress=False)
    other = generate_ids(model, features, START, END, GenerationConfig(
        method="sample", temperature=1.5, max_len=T, seed=SEED + 1), progress=False)
    assert first == again
    assert first != other


def test_top_k_restricts_sampling_to_the_k_most_probable():
    probs = np.array([[0.05, 0.05, 0.4, 0.3, 0.1, 0.05, 0.05]] * 200)  # (B, V)
    rngs = [np.random.default_rng([SEED, i]) for i in range(len(probs))]
    picked = next_token_ids(probs, GenerationConfig(method="sample", top_k=2, temperature=5.0), rngs)
    assert set(picked.tolist()) == {2, 3}
    greedy = next_token_ids(probs, GenerationConfig(), rngs)
    assert set(greedy.tolist()) == {2}


class CoinModel:
    """Each next token is `<end>`, a rest or a note with the given probabilities, whatever the input."""

    jit_compile = False  # decoded as on a CPU: prefixes padded to buckets

    def __init__(self, vocabulary, end, rest, note):
        self.probs = np.zeros(len(vocabulary), "float32")  # (V,)
        self.probs[[vocabulary.end_id, *vocabulary.encode(["r@1.0", "C4@1.0"])]] = end, rest, note

    def predict_on_batch(self, inputs):
        return np.tile(self.probs, (len(inputs["tokens"]), 1))  # (B, V)


def coin_vocabulary():
    from img2music_tf.vocabulary import Vocabulary

    return Vocabulary.build([["r@1.0", "C4@1.0"]])


def test_note_rule_samples_a_silent_piece_again_with_the_next_seed_alone():
    from img2music_tf.decode import generate_tokens
    from img2music_tf.tokens import tokens_to_notes

    vocabulary = coin_vocabulary()
    model = CoinModel(vocabulary, end=0.6, rest=0.3, note=0.1)  # most first tries end before a note
    features = np.zeros((12, F), "float32")
    once = GenerationConfig(method="sample", max_len=8, seed=SEED)
    first = generate_tokens(model, features, vocabulary, once, progress=False)
    ruled = generate_tokens(model, features, vocabulary, dataclasses.replace(once, tries=50), progress=False)
    silent = [i for i, piece in enumerate(first) if not len(tokens_to_notes(piece))]
    assert 3 <= len(silent) < len(first)  # the rule has work to do
    assert all(len(tokens_to_notes(piece)) for piece in ruled)  # every piece has notes
    assert all(ruled[i] == first[i] for i in range(len(first)) if i not in silent)  # pieces with notes are kept
    for i in silent:  # a retried piece is the first of its picture's lone seeds seed+1, seed+2, ... with a note
        alone = (generate_tokens(model, features[i : i + 1], vocabulary, dataclasses.replace(once, seed=seed),
                                 progress=False, streams=[i])[0] for seed in range(SEED + 1, SEED + 50))
        assert ruled[i] == next(piece for piece in alone if len(tokens_to_notes(piece)))


def test_length_rule_keeps_sampling_until_a_piece_has_its_notes_and_seconds():
    from img2music_tf.decode import generate_tokens
    from img2music_tf.tokens import sounding_seconds, tokens_to_notes

    vocabulary = coin_vocabulary()
    model = CoinModel(vocabulary, end=0.2, rest=0.3, note=0.5)
    features = np.zeros((8, F), "float32")
    ruled = GenerationConfig(method="sample", max_len=16, seed=SEED, tries=200, min_notes=5, min_seconds=4.0)
    pieces = generate_tokens(model, features, vocabulary, ruled, progress=False)
    first = generate_tokens(model, features, vocabulary, dataclasses.replace(ruled, tries=1), progress=False)
    assert any(not ruled.long_enough(piece) for piece in first)  # the rule has work to do
    assert all(len(tokens_to_notes(piece)) >= 5 and sounding_seconds(piece) >= 4.0 for piece in pieces)


def test_sounding_seconds_ends_with_the_last_note_at_the_tempo_tokens_bpm():
    from img2music_tf.tokens import sounding_seconds

    piece = ["<start>", "C4@1.0", "r@2.0", "0.4.7@1.0", "r@4.0", "<end>"]
    assert sounding_seconds(piece) == 2.0  # 4 beats at 120 bpm; the last rest does not sound
    assert sounding_seconds([piece[0], "60.0@tempo", *piece[1:]]) == 4.0
    assert sounding_seconds(["<start>", "r@8.0", "<end>"]) == 0.0


def test_a_picture_gets_the_same_music_alone_or_among_others(tiny_run, tmp_path):
    """Each picture samples from its own stream, drawn from its content: not from its place in the batch."""
    from img2music_tf.generate import music_from_images

    pictures = [write_picture(tmp_path / f"pic{i}.png", colour=(60 * i, 200 - 50 * i, 90)) for i in range(3)]
    generation = {"method": "sample", "top_k": 0, "seed": 5, "tries": 3}
    together = music_from_images(tiny_run, pictures, tmp_path / "together", generation, wav=False, progress=False)
    alone = music_from_images(tiny_run, pictures[2:], tmp_path / "alone", generation, wav=False, progress=False)
    moved = music_from_images(tiny_run, [pictures[2], pictures[0]], tmp_path / "moved", generation, wav=False,
                              progress=False)
    assert alone[0].midi.read_bytes() == together[2].midi.read_bytes() == moved[0].midi.read_bytes()
    assert together[0].tokens != together[1].tokens  # other pictures, other streams


def test_note_rule_gives_up_after_its_tries_and_leaves_greedy_alone():
    from img2music_tf.decode import generate_tokens
    from img2music_tf.tokens import tokens_to_notes

    class Counting(CoinModel):
        rows = 0

        def predict_on_batch(self, inputs):
            self.rows += len(inputs["tokens"])
            return super().predict_on_batch(inputs)

    vocabulary = coin_vocabulary()
    for method, calls in (("sample", 3), ("greedy", 1)):
        model = Counting(vocabulary, end=0.9, rest=0.1, note=0.0)  # never a note: every try is silent
        config = GenerationConfig(method=method, max_len=2, tries=3)  # one step per try
        piece = generate_tokens(model, np.zeros((1, F), "float32"), vocabulary, config, progress=False)[0]
        assert not len(tokens_to_notes(piece)) and model.rows == calls  # kept silent after 3 tries; greedy: 1


@pytest.mark.parametrize("bad", [dict(method="beam"), dict(temperature=0), dict(top_k=-1), dict(max_len=1),
                                 dict(tries=0)])
def test_generation_config_rejects_bad_values(bad):
    with pytest.raises(UserError):
        GenerationConfig(**bad)


# --- `img2music generate`: user errors give one line on stderr and exit status 2 ---------------


def run_cli(argv, capsys):
    from img2music_tf import cli

    status = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return status, err


def write_picture(path, colour=(200, 120, 40)):
    from PIL import Image

    Image.new("RGB", (40, 30), colour).save(path)
    return path


def assert_one_line_error(status, err, *words):
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("img2music: error:")
    for word in words:
        assert word in err


def test_generate_missing_image(tmp_path, capsys):
    status, err = run_cli(["generate", tmp_path / "nope.jpg", "--run", tmp_path, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(status, err, "image not found", "nope.jpg")


def test_generate_unreadable_image(tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"not a picture at all")
    status, err = run_cli(["generate", tmp_path / "broken.jpg", "--run", tmp_path, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(status, err, "cannot read image", "broken.jpg")


def test_generate_output_folder_not_writable(tmp_path, capsys):
    picture = write_picture(tmp_path / "pic.png")
    (tmp_path / "a_file").write_text("x")
    status, err = run_cli(["generate", picture, "--run", tmp_path, "--out", tmp_path / "a_file" / "out"], capsys)
    assert_one_line_error(status, err, "cannot write to output folder")


@pytest.mark.parametrize("given", [["--image-va", "5,5", "--image-va", "1,2"], ["--image-va", "5;5"],
                                   ["--image-va", "0,12"]])
def test_generate_bad_image_va(tmp_path, capsys, given):
    picture = write_picture(tmp_path / "pic.png")
    status, err = run_cli(["generate", picture, "--run", tmp_path, "--out", tmp_path / "o", *given], capsys)
    assert_one_line_error(status, err, "--image-va")


def test_image_va_csv_matches_images_by_file_name(tmp_path):
    from img2music_tf.image_va import known_image_va

    (tmp_path / "va.csv").write_text("path,valence,arousal\nimages/pic.png,5,6.5\n")
    assert known_image_va(["elsewhere/pic.png", "other.png"], None, str(tmp_path / "va.csv"), False) == [(5, 6.5), None]
    with pytest.raises(UserError, match=r"names none of the 1 images \(rows are matched by file name, e.g. other.png\)"):
        known_image_va(["other.png"], None, str(tmp_path / "va.csv"), False)  # another set's table
    (tmp_path / "empty.csv").write_text("path,valence,arousal\n")
    with pytest.raises(UserError, match="names none of the 1 images"):
        known_image_va(["pic.png"], None, str(tmp_path / "empty.csv"), False)
    (tmp_path / "va.csv").write_text("path,valence,arousal\nimages/pic.png,5,65\n")  # a lost decimal point
    with pytest.raises(UserError, match=r"va.csv: values must lie in 1-9, got 5.0,65.0 for pic.png$"):
        known_image_va(["elsewhere/pic.png"], None, str(tmp_path / "va.csv"), False)


def test_image_va_csv_saved_with_a_byte_order_mark_or_naming_a_file_twice(tmp_path):
    from img2music_tf.image_va import known_image_va

    (tmp_path / "va.csv").write_bytes("path,valence,arousal\npic.png,5,6.5\n".encode("utf-8-sig"))  # a spreadsheet's
    assert known_image_va(["pic.png"], None, str(tmp_path / "va.csv"), False) == [(5, 6.5)]
    (tmp_path / "va.csv").write_text("path,valence,arousal\na/pic.png,5,6.5\nb/pic.png,2,3\n")
    with pytest.raises(UserError, match="gives pic.png more than once"):
        known_image_va(["pic.png"], None, str(tmp_path / "va.csv"), False)


@pytest.mark.parametrize("content", ["name,v,a\npic.png,5,5\n", "not a table\n", ""])
def test_generate_image_va_csv_without_its_columns(tmp_path, capsys, content):
    picture = write_picture(tmp_path / "pic.png")
    (tmp_path / "va.csv").write_text(content)
    status, err = run_cli(["generate", picture, "--run", tmp_path, "--out", tmp_path / "o",
                           "--image-va-csv", tmp_path / "va.csv"], capsys)
    assert_one_line_error(status, err, "needs columns path,valence,arousal")


def test_generate_a_folder_given_as_an_image(tmp_path, capsys):
    (tmp_path / "pictures").mkdir()
    status, err = run_cli(["generate", tmp_path / "pictures", "--run", tmp_path, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(status, err, "pictures is a folder, not an image file")


# --- all or nothing: a failed or interrupted `generate` leaves no files, no temporary or empty folders -------


def _generate(tiny_run, picture, out, capsys):
    """`img2music generate` with the tiny run: status and the last line of stderr (progress bars come first)."""
    status, err = run_cli(["generate", picture, "--run", tiny_run, "--out", out, "--no-wav"], capsys)
    assert "Traceback" not in err
    return status, err.splitlines()[-1] if err else ""


def test_generate_writes_the_whole_set_and_no_temporary_folder(tiny_run, tmp_path, capsys):
    picture = write_picture(tmp_path / "pic.png")
    status, _ = _generate(tiny_run, picture, tmp_path / "music", capsys)
    assert status == 0
    assert sorted(p.name for p in (tmp_path / "music").iterdir()) == ["pic-pianoroll.png", "pic.mid", "summary.json"]


def test_generate_disk_full_leaves_nothing(tiny_run, tmp_path, capsys, monkeypatch):
    import errno

    from matplotlib.figure import Figure

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    picture = write_picture(tmp_path / "pic.png")
    monkeypatch.setattr(Figure, "savefig", disk_full)  # the piano roll, written after the MIDI file
    status, err = _generate(tiny_run, picture, tmp_path / "music", capsys)
    assert_one_line_error(status, err, f"cannot write {tmp_path / 'music' / 'pic-pianoroll.png'}: No space left")
    assert not (tmp_path / "music").exists()
    status, err = _generate(tiny_run, picture, tmp_path, capsys)  # into a folder that exists: left as it was
    assert status == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["pic.png"]


def test_ctrl_c_stops_generate_with_130_and_leaves_nothing(tiny_run, tmp_path, capsys, monkeypatch):
    from img2music_tf import generate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    picture = write_picture(tmp_path / "pic.png")
    monkeypatch.setattr(generate, "generate_tokens", interrupted)
    status, err = _generate(tiny_run, picture, tmp_path / "music", capsys)
    assert status == 130 and err == "img2music: interrupted (SIGINT); nothing half-written is left"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pic.png"]


def test_known_retracing_hides_only_the_retracing_warning():
    import logging

    from img2music_tf.generate import known_retracing

    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    retracing = "5 out of the last 13 calls to <function f at 0x1> triggered tf.function retracing. Tracing is ..."
    try:
        with known_retracing():
            logger.warning(retracing)
            logger.warning("another warning")
        logger.warning(retracing)
    finally:
        logger.removeHandler(handler)
    assert seen == ["another warning", retracing]


def test_generate_in_a_fresh_process_is_quiet(tiny_run, tmp_path):
    """A new process must register the net's classes before loading it; stderr holds only the progress bars."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    picture = write_picture(tmp_path / "pic.png")
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("TF_CPP_MIN_LOG_LEVEL", "IMG2MUSIC_VERBOSE")}
    done = subprocess.run(
        [sys.executable, "-m", "img2music_tf", "generate", str(picture), "--run", str(tiny_run), "--out",
         str(tmp_path / "music"), "--no-wav"],
        capture_output=True, text=True, env={**environment, "PYTHONPATH": str(REPO)}, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 1 piece(s)" in done.stdout
    bars = ("generate:", "vgg16 features:", "writing music:")
    lines = [line.strip() for line in done.stderr.replace("\r", "\n").splitlines()]
    assert [line for line in lines if line and not line.startswith(bars)] == []


def test_print_pieces_marks_music_va_outside_1_9(tmp_path, capsys):
    from img2music_tf.generate import Piece, print_pieces

    def piece(name, music_va):
        return Piece(tmp_path / f"{name}.png", ("<start>",), 0, tmp_path / f"{name}.mid", None,
                     tmp_path / f"{name}-pianoroll.png", (5.0, 5.0), music_va)

    print_pieces([piece("a", (9.78, 5.0)), piece("b", (1.0, 0.5)), piece("c", None)], tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert "music VA V 9.78* A 5.00 | image VA V 5.00 A 5.00" in lines[0]
    assert "music VA V 1.00 A 0.50* |" in lines[1] and "music VA - |" in lines[2]
    assert lines[3] == "* outside 1-9: the predictor extrapolates"
    print_pieces([piece("a", (9.0, 1.0))], tmp_path)
    assert "*" not in capsys.readouterr().out


def test_generate_refuses_an_earlier_set_unless_force(tiny_run, tmp_path, capsys):
    pictures = [write_picture(tmp_path / name) for name in ("a.png", "b.png")]
    out = tmp_path / "music"
    status, _ = run_cli(["generate", *pictures, "--run", tiny_run, "--out", out, "--no-wav"], capsys)
    assert status == 0
    summary = (out / "summary.json").read_text()
    status, err = run_cli(["generate", pictures[0], "--run", tiny_run, "--out", out, "--no-wav", "--method",
                           "sample"], capsys)
    assert_one_line_error(status, err, f"{out} already holds generated music (summary.json): use --force")
    assert (out / "summary.json").read_text() == summary
    from img2music_tf import cli

    assert cli.main([str(a) for a in ["generate", pictures[0], "--run", tiny_run, "--out", out, "--no-wav",
                                      "--method", "sample", "--force"]]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[-1].startswith("note: this run's picture CNN has random weights")
    assert "--image-weights torchvision" in printed
    assert "image VA V " in printed and "(estimated)" in printed  # no VA given: the shipped regressor's estimate
    assert sorted(p.name for p in out.iterdir()) == ["a-pianoroll.png", "a.mid", "summary.json"]
    assert '"method": "sample"' in (out / "summary.json").read_text()


def test_generate_without_run_uses_the_shipped_model_and_makes_notes(tmp_path, capsys):
    """The README's first promise to a user with a photo: no training, no --run, music with notes."""
    import json

    from PIL import Image

    from img2music_tf import cli
    from img2music_tf.pretrained import DEFAULT_GENERATION, MODEL_FOLDER

    if not (MODEL_FOLDER / "model.keras").is_file():
        pytest.skip("no model shipped in this checkout (make pretrained)")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (80, 60), (30, 120, 200)).save(photo)
    assert cli.main(["generate", str(photo), "--out", str(tmp_path / "music"), "--no-wav"]) == 0
    summary = json.loads((tmp_path / "music" / "summary.json").read_text())
    assert summary["generation"]["method"] == DEFAULT_GENERATION["method"] == "sample"
    assert summary["generation"]["tries"] == DEFAULT_GENERATION["tries"] > 1  # the note rule is on
    assert summary["pieces"][0]["n_notes"] > 0
    out = capsys.readouterr().out
    assert "random weights" not in out and "(estimated)" in out  # it sees the picture (torchvision weights)


def test_generate_without_run_and_without_a_shipped_model_says_how(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from img2music_tf import cli, pretrained

    monkeypatch.setattr(pretrained, "MODEL_FOLDER", tmp_path / "nothing")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(photo)
    assert cli.main(["generate", str(photo), "--out", str(tmp_path / "music")]) == 2
    assert "--run RUN_DIR" in capsys.readouterr().err
    assert not (tmp_path / "music").exists()


def test_every_piece_gets_a_music_va_or_one_line_saying_why_not(tiny_run, tmp_path, capsys, monkeypatch):
    """A run that names no music VA predictor is rated by the small one shipped in the package; with none
    shipped either, one line says why the music VA is '-' and how to get one."""
    import json

    from img2music_tf import generate
    from img2music_tf.models.va_predictor import VAPredictor, VAPredictorConfig, build_va_predictor

    picture = write_picture(tmp_path / "pic.png")
    monkeypatch.setattr(generate, "va_predictor_folder", lambda: None)
    assert cli_main(["generate", picture, "--run", tiny_run, "--out", tmp_path / "a", "--no-wav"]) == 0
    out = capsys.readouterr().out
    assert "music VA - " in out and "music VA -: no music VA predictor" in out
    shipped = tmp_path / "shipped_va"
    VAPredictor(build_va_predictor(VAPredictorConfig(hidden_units=(8,), batchnorm=False)),
                VAPredictorConfig(hidden_units=(8,), batchnorm=False)).save(shipped)
    monkeypatch.setattr(generate, "va_predictor_folder", lambda: shipped)
    assert cli_main(["generate", picture, "--run", tiny_run, "--out", tmp_path / "b", "--no-wav"]) == 0
    out = capsys.readouterr().out
    assert "no music VA predictor" not in out and "music VA V " in out
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["va_predictor"] == str(shipped) and summary["pieces"][0]["music_va"] is not None


def cli_main(argv):
    from img2music_tf import cli

    return cli.main([str(a) for a in argv])


# --- VA-conditioned runs (not in the paper): `generate --va` -----------------------------------------------


@pytest.fixture(scope="module")
def conditioned_runs(tmp_path_factory):
    """Tiny untrained runs of both VA-conditioned presets."""
    from run_fixtures import write_tiny_run

    root = tmp_path_factory.mktemp("conditioned")
    return {preset: write_tiny_run(root / preset, preset)
            for preset in ("Trans_enc3_dec3_VA_Cond", "Trans_enc3_dec3_VA_Cond_NoImage")}


def _summary(folder):
    return json.loads((folder / "summary.json").read_text())["pieces"]


def test_generate_va_steers_a_conditioned_run_and_defaults_to_the_pictures_va(conditioned_runs, tmp_path, capsys,
                                                                               monkeypatch):
    import img2music_tf.generate as generate_module

    read = []  # the VA columns the net is given, per call
    decode = generate_module.generate_tokens
    monkeypatch.setattr(generate_module, "generate_tokens",
                        lambda model, inputs, *args, **kwargs: read.append(inputs[:, -2:].tolist()) or
                        decode(model, inputs, *args, **kwargs))
    run = conditioned_runs["Trans_enc3_dec3_VA_Cond"]
    picture = write_picture(tmp_path / "pic.png")
    common = ["generate", picture, "--run", run, "--no-wav", "--max-len", "24", "--image-va", "3,4"]
    assert run_cli([*common, "--out", tmp_path / "own"], capsys)[0] == 0
    assert run_cli([*common, "--out", tmp_path / "sad", "--va", "1,1"], capsys)[0] == 0
    assert run_cli([*common, "--out", tmp_path / "happy", "--va", "9,9"], capsys)[0] == 0
    own, sad, happy = (_summary(tmp_path / name)[0] for name in ("own", "sad", "happy"))
    assert own["expressed_va"] == [3, 4] and sad["expressed_va"] == [1, 1] and happy["expressed_va"] == [9, 9]
    assert sad["image_va"] == happy["image_va"] == [3, 4]
    assert read == [[[-0.5, -0.25]], [[-1, -1]], [[1, 1]]]  # (V - 5) / 4: the asked VA, else the picture's


def test_generate_va_alone_needs_a_run_that_reads_no_picture(conditioned_runs, tiny_run, tmp_path, capsys):
    out = tmp_path / "alone"
    status, _ = run_cli(["generate", "--va", "7,2.5", "--run", conditioned_runs["Trans_enc3_dec3_VA_Cond_NoImage"],
                         "--out", out, "--no-wav", "--max-len", "24"], capsys)
    assert status == 0
    piece, = _summary(out)
    assert piece["image"] is None and piece["expressed_va"] == [7, 2.5] and piece["midi"] == "va-7-2.5.mid"
    assert (out / "va-7-2.5.mid").is_file()
    status, err = run_cli(["generate", "--va", "7,2.5", "--run", conditioned_runs["Trans_enc3_dec3_VA_Cond"],
                           "--out", tmp_path / "b", "--no-wav"], capsys)
    assert_one_line_error(status, err, "also reads the picture", "Trans_enc3_dec3_VA_Cond_NoImage")
    assert not (tmp_path / "b").exists()


def test_generate_va_with_the_shipped_model_says_it_is_not_conditioned(tmp_path, capsys):
    status, err = run_cli(["generate", write_picture(tmp_path / "pic.png"), "--va", "7,7", "--out", tmp_path / "o"],
                          capsys)
    assert_one_line_error(status, err, "the shipped model is not conditioned", "--run")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv", [["--va", "7,7"], ["--va", "ten,2"], ["--va", "0,5"], []])
def test_generate_va_mistakes_say_so_in_one_line(tiny_run, tmp_path, capsys, argv):
    picture = write_picture(tmp_path / "pic.png")
    pictures = [picture] if argv else []  # no picture and no --va
    status, err = run_cli(["generate", *pictures, "--run", tiny_run, "--out", tmp_path / "o", "--no-wav", *argv],
                          capsys)
    expected = {"7,7": "is not conditioned on valence and arousal", "ten,2": "--va expects two numbers",
                "0,5": "--va values must lie in 1-9"}
    assert_one_line_error(status, err, expected[argv[1]] if argv else "give at least one picture")
    assert not (tmp_path / "o").exists()
