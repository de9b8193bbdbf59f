"""The paper's metrics on hand-made music whose values are worked out by hand here."""

from __future__ import annotations

import itertools
import math

import muspy
import numpy as np
import pretty_midi
import pytest

from conftest import SEED
from img2music_tf import metrics
from img2music_tf.metrics import METRIC_NAMES, PAPER_REFERENCE, music_quality_loss
from img2music_tf.errors import UserError

# The paper's Tables 1-2 (img2music_tf/paper_numbers.py): quality loss, polyphony, pitch entropy, groove.
PAPER_ROWS = {
    "LSTM_enc2": (1.9157, 0.0317, 0.1204, 0.9978),
    "Trans_enc3_dec3_VGG": (0.8216, 0.6975, 1.9974, 0.9995),
    "Trans_enc3_dec3_Inception": (0.8514, 0.6289, 1.3642, 0.9998),
    "Trans_enc4": (1.3368, 0.0905, 1.9931, 0.9997),
    "Trans_enc2_dec2": (2.0077, 0.0000, 0.0000, 0.9999),
    "Trans_enc3_dec3": (1.2853, 0.0087, 2.8137, 0.9997),
    "Trans_enc3_dec3_VA_Loss": (0.7061, 0.7818, 3.0932, 0.9998),
}


def music_of(notes, resolution=24, drums=()):
    """A one-track piano Music from (tick, pitch, duration) triples, plus an optional drum track."""
    tracks = [muspy.Track(program=0, notes=[muspy.Note(t, p, d, 64) for t, p, d in notes])]
    if drums:
        tracks.append(muspy.Track(is_drum=True, notes=[muspy.Note(t, p, d, 64) for t, p, d in drums]))
    return muspy.Music(resolution=resolution, tracks=tracks)


def test_polyphony_counts_ticks_with_more_than_two_pitches():
    # A dyad over ticks 0-3, then a triad over ticks 4-9: 10 ticks, 6 of them with 3 pitches.
    # The dyad does not count: the authors' threshold=2 means "more than 2".
    notes = [(0, 60, 4), (0, 64, 4), (4, 60, 6), (4, 64, 6), (4, 67, 6)]
    assert metrics.polyphony_rate(music_of(notes)) == pytest.approx(6 / 10)


def test_polyphony_ignores_drums():
    notes = [(0, 60, 8), (0, 64, 8), (0, 67, 8), (8, 72, 4)]
    drums = [(8, 36, 4), (8, 38, 4), (8, 42, 4)]
    assert metrics.polyphony_rate(music_of(notes, drums=drums)) == pytest.approx(8 / 12)


def test_pitch_entropy_of_four_distinct_pitches_is_two_bits():
    notes = [(4 * i, pitch, 4) for i, pitch in enumerate([60, 62, 64, 65])]
    assert metrics.pitch_entropy(music_of(notes)) == pytest.approx(2.0)


def test_pitch_entropy_counts_notes_not_pitch_classes():
    # P = 1/2, 1/4, 1/4 -> 0.5*1 + 2 * 0.25*2 = 1.5 bits; C5 (72) is its own bin, not C.
    notes = [(0, 60, 1), (1, 60, 1), (2, 64, 1), (3, 72, 1)]
    assert metrics.pitch_entropy(music_of(notes)) == pytest.approx(1.5)


def test_groove_consistency_uses_four_tick_measures():
    # Onsets at ticks 0 and 5, notes 1 tick long: end tick 6 -> 6 // 4 + 1 = 2 "measures",
    # patterns [1,0,0,0] and [0,1,0,0] differ in 2 of 4 positions -> 1 - 2/4.
    assert metrics.groove_consistency(music_of([(0, 60, 1), (5, 62, 1)])) == pytest.approx(0.5)
    # Onsets every 4 ticks repeat the same pattern in every measure -> 1.
    assert metrics.groove_consistency(music_of([(0, 60, 1), (4, 62, 1), (8, 64, 1)])) == 1.0


def test_groove_consistency_of_a_beat_long_note_is_near_one():
    # Two quarter notes at 480 ticks per beat: end tick 960 -> 241 "measures"; onsets in
    # measures 0 and 120 only, so the pairs (0,1), (119,120), (120,121) differ in one
    # position each: 1 - 3 / (4 * 240).
    music = music_of([(0, 60, 480), (480, 62, 480)], resolution=480)
    assert metrics.groove_consistency(music) == pytest.approx(1 - 3 / (4 * 240))


def test_undefined_metrics_are_nan():
    for music in (muspy.Music(resolution=24), music_of([])):
        values = metrics.quality_metrics(music)
        assert list(values) == list(metrics.METRIC_NAMES)
        assert all(math.isnan(value) for value in values.values())
    # One 2-tick note: one "measure" only, so groove is undefined; the others are 0.
    values = metrics.quality_metrics(music_of([(0, 60, 2)]))
    assert values["polyphony_rate"] == 0.0
    assert values["pitch_entropy"] == 0.0
    assert math.isnan(values["groove_consistency"])
    assert math.isnan(metrics.music_quality_loss(values))


def test_read_music_reads_a_midi_file_at_its_resolution(tmp_path):
    # 60 bpm and 4 ticks per beat: a triad over 2 s (8 ticks), then one note for 1 s (4 ticks).
    midi = pretty_midi.PrettyMIDI(resolution=4, initial_tempo=60)
    piano = pretty_midi.Instrument(program=0)
    for pitch in (60, 64, 67):
        piano.notes.append(pretty_midi.Note(velocity=80, pitch=pitch, start=0.0, end=2.0))
    piano.notes.append(pretty_midi.Note(velocity=80, pitch=72, start=2.0, end=3.0))
    midi.instruments.append(piano)
    midi.write(str(tmp_path / "piece.mid"))

    music = metrics.read_music(tmp_path / "piece.mid")
    assert music.resolution == 4
    assert metrics.polyphony_rate(music) == pytest.approx(8 / 12)
    assert metrics.pitch_entropy(music) == pytest.approx(2.0)


def test_read_music_rejects_missing_and_corrupt_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        metrics.read_music(tmp_path / "missing.mid")
    (tmp_path / "bad.mid").write_bytes(b"not a midi file")
    with pytest.raises(UserError, match="cannot read"):
        metrics.read_music(tmp_path / "bad.mid")


@pytest.mark.parametrize("row", sorted(PAPER_ROWS))
def test_quality_loss_reproduces_the_paper_tables_within_rounding(row):
    loss, *values = PAPER_ROWS[row]
    # Each printed value is rounded to 4 decimals: the loss of every corner of that box must
    # bracket the printed loss, itself rounded.
    corners = [
        metrics.music_quality_loss([v + s * 5e-5 for v, s in zip(values, signs)])
        for signs in itertools.product((-1, 1), repeat=3)
    ]
    assert min(corners) - 5e-5 <= loss <= max(corners) + 5e-5


def test_quality_loss_is_the_sum_not_the_average():
    # Trans_enc3_dec3_VGG: 0.3153 + 0.4989 + 0.0074 = 0.8216 (docs/fidelity.md, row "Music_Quality_Loss").
    errors = metrics.relative_errors((0.6975, 1.9974, 0.9995))
    assert [round(e, 4) for e in errors] == [0.3153, 0.4989, 0.0074]
    assert round(metrics.music_quality_loss((0.6975, 1.9974, 0.9995)), 4) == 0.8216


def test_quality_loss_accepts_a_dict_and_a_custom_reference():
    values = {"polyphony_rate": 0.5, "pitch_entropy": 3.0, "groove_consistency": 1.0}
    assert metrics.music_quality_loss(values, reference=(0.25, 2.0, 1.0)) == pytest.approx(1.0 + 0.5 + 0.0)
    assert metrics.music_quality_loss(metrics.PAPER_REFERENCE) == 0.0


def test_reference_values_average_over_pieces_and_skip_undefined():
    two_bits = music_of([(4 * i, pitch, 4) for i, pitch in enumerate([60, 62, 64, 65])])
    one_pitch = music_of([(0, 60, 4), (4, 60, 4)])
    no_notes = music_of([])
    polyphony, entropy, groove = metrics.reference_values([two_bits, one_pitch, no_notes])
    assert polyphony == 0.0
    assert entropy == pytest.approx((2.0 + 0.0) / 2)
    # The end tick opens one more, empty "measure": 5 measures (1 - 1/16) and 3 (1 - 1/8).
    assert groove == pytest.approx((1 - 1 / 16 + 1 - 1 / 8) / 2)
    with pytest.raises(UserError, match="no piece"):
        metrics.reference_values([no_notes])


def test_emotion_alignment_is_the_mean_absolute_va_difference():
    image_va = [[7.0, 3.0], [2.0, 6.0]]
    music_va = [[6.0, 3.5], [4.0, 6.5]]
    result = metrics.emotion_alignment(image_va, music_va)
    assert result == pytest.approx({"valence": 1.5, "arousal": 0.5, "overall": 1.0})
    with pytest.raises(UserError, match=r"\(N, 2\)"):
        metrics.emotion_alignment([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]])


def test_mean_ci_is_a_student_t_interval():
    # n = 3, mean 2, s = 1, t_{0.975, 2} = 4.302653 (standard t table).
    mean, low, high = metrics.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert mean - low == pytest.approx(high - mean)
    # Wider at 99%, NaN skipped.
    _, low99, _ = metrics.mean_ci([1.0, 2.0, math.nan, 3.0], confidence=0.99)
    assert low99 < low


def test_mean_ci_edge_cases():
    assert metrics.mean_ci([5.0])[0] == 5.0 and all(math.isnan(x) for x in metrics.mean_ci([5.0])[1:])
    assert all(math.isnan(x) for x in metrics.mean_ci([]))
    assert metrics.mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    with pytest.raises(UserError, match="confidence"):
        metrics.mean_ci([1.0, 2.0], confidence=95)


def test_summarize_reports_loss_of_the_means():
    rng = np.random.default_rng(SEED)
    table = np.column_stack([rng.uniform(0, 1, 20), rng.uniform(0, 4, 20), rng.uniform(0.99, 1, 20)])
    table[3, 1] = np.nan
    row = metrics.summarize(table)
    assert row["n"] == 20
    assert row["pitch_entropy"]["n_defined"] == 19
    means = [row[name]["mean"] for name in metrics.METRIC_NAMES]
    assert means[1] == pytest.approx(np.nanmean(table[:, 1]))
    assert row["music_quality_loss"] == pytest.approx(metrics.music_quality_loss(means))
    for name in metrics.METRIC_NAMES:
        assert row[name]["low"] < row[name]["mean"] < row[name]["high"]


@pytest.mark.integration
def test_reference_values_of_the_eimg_music_are_the_authors(eimg_source, tmp_path):
    # The authors' reference = the mean of each metric over the 3000 EIMG files, read by muspy.
    import zipfile

    with zipfile.ZipFile(eimg_source / "dataset.zip") as archive:
        archive.extractall(tmp_path)
    paths = sorted(tmp_path.glob("dataset/*.mid"))
    assert len(paths) == 3000
    reference = metrics.reference_values(metrics.read_music(path) for path in paths)
    assert reference == pytest.approx(metrics.PAPER_REFERENCE, rel=1e-12)


def test_quality_loss_ci_brackets_the_loss_and_is_reproducible():
    rng = np.random.default_rng(SEED)
    table = np.column_stack([rng.uniform(0, 1, 30), rng.uniform(0, 4, 30), rng.uniform(0.99, 1, 30)])
    loss = metrics.music_quality_loss(np.nanmean(table, axis=0))
    low, high = metrics.quality_loss_ci(table, seed=SEED)
    assert low < loss < high
    assert metrics.quality_loss_ci(table, seed=SEED) == (low, high)
    narrow_low, narrow_high = metrics.quality_loss_ci(table, confidence=0.5, seed=SEED)
    assert low <= narrow_low < narrow_high <= high
    # Identical pieces: every resample has the same loss, a zero-width interval.
    same = np.tile([0.5, 3.0, 0.999], (5, 1))
    assert metrics.quality_loss_ci(same) == pytest.approx((metrics.music_quality_loss(same[0]),) * 2)
    assert all(math.isnan(x) for x in metrics.quality_loss_ci(table[:1]))


def test_aggregate_takes_the_first_pieces_and_bootstraps_the_quality_loss():
    rng = np.random.default_rng(SEED)
    values = np.column_stack([rng.uniform(0, 1, 10), rng.uniform(1, 4, 10), rng.uniform(0.99, 1, 10)])  # (10, 3)
    values[7, 1] = np.nan  # an undefined metric (e.g. pitch entropy of silence) is skipped, not fatal
    pieces = [{"metrics": dict(zip(METRIC_NAMES, row))} for row in values]
    aggregate = metrics.aggregate_pieces(pieces, PAPER_REFERENCE)
    first = aggregate[f"first{metrics.FIRST_PIECES}"]
    assert first["n"] == metrics.FIRST_PIECES
    assert first["polyphony_rate"]["mean"] == pytest.approx(values[: metrics.FIRST_PIECES, 0].mean())
    assert aggregate["all"]["pitch_entropy"]["n_defined"] == 9
    low, high = aggregate["all"]["music_quality_loss_ci"]
    assert low <= aggregate["all"]["music_quality_loss"] <= high
    constant = np.tile(values[:1], (5, 1))  # (5, 3): every resample has the same means
    point = music_quality_loss(constant[0], PAPER_REFERENCE)
    assert metrics.quality_loss_ci(constant, PAPER_REFERENCE) == pytest.approx((point, point))


def test_unigram_cross_entropy_is_the_entropy_of_the_training_targets():
    songs = [["<start>", "a", "b", "<end>"], ["<start>", "a", "<end>"]]  # targets: a b <end> a <end>
    shares = np.array([2, 1, 2]) / 5
    assert metrics.unigram_cross_entropy(songs) == pytest.approx(-(shares * np.log(shares)).sum())
    assert math.isnan(metrics.unigram_cross_entropy([["<start>"]]))


def test_memorisation_summary_counts_copies_and_distinct_pieces():
    def piece(tokens, image, copied, song=None, run=0):
        return {"tokens": tokens, "image_id": image,
                "memorisation": {"copied": copied, "song": song, "longest_run": run, "share": 0.0}}

    pieces = [piece("<start> a <end>", "i1", True, "s1", 20), piece("<start> a <end>", "i2", True, "s1", 20),
              piece("<start> b <end>", "i3", False, "s2", 2)]
    summary = metrics.memorisation_summary(pieces)
    assert (summary["copied"], summary["songs_copied"], summary["longest_run_median"]) == (2, {"s1": 2}, 20.0)
    assert (summary["distinct_pieces"], summary["distinct_images"]) == (2, 3)


@pytest.mark.parametrize("events", [["0.3.6.9@1.75", "r@0.75"] * 20,
                                    ["G4@2.75", "0.4.7@2.75", "r@1.25", "5.9.0@1.0", "D4@1/3", "E-5@0.5"] * 4])
def test_token_metrics_equal_those_of_the_written_midi_file(tmp_path, events):
    from img2music_tf.tokens import write_midi

    sequence = ["<start>", "85.0@tempo", "4/4@time", *events, "<end>"]
    from_file = metrics.quality_metrics(metrics.read_music(write_midi(sequence, tmp_path / "piece.mid")))
    assert metrics.token_metrics(sequence) == pytest.approx(from_file, rel=1e-12)


def test_the_metric_rewards_chords_whatever_the_music():
    # One event repeated 234 times (the longest greedy piece): the more pitches sound together, the lower
    # the loss, and a four-note chord with rests comes close to the paper's best row (0.8216).
    def loss(events):
        return music_quality_loss(metrics.token_metrics(["<start>", *events, "<end>"]))

    one, dyad, triad, four = (loss([token] * 234) for token in ("C4@1.0", "0.4@1.0", "0.4.7@1.0", "0.4.7.10@1.0"))
    loop = loss(["0.3.6.9@1.75", "r@0.75"] * 117)
    assert one > dyad > triad > four > loop
    assert one == pytest.approx(2.0077, abs=1e-3)  # the paper's Trans_enc2_dec2
    assert loop == pytest.approx(PAPER_ROWS["Trans_enc3_dec3_VGG"][0], abs=0.02)
