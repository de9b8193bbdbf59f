"""The published numbers (img2music_tf/paper_numbers.py) against their sources: the paper's Figure 3 and the
authors' training log."""

from __future__ import annotations

import re

import pytest

from img2music_tf.paper_numbers import AUTHORS_LOG, FIGURE3, TABLE1
from img2music_tf.presets import get_preset

LOG_NAME = "Loss_Trans_enc3_dec3_VA_loss.txt"
IMPROVED = re.compile(r"^Epoch \d+: loss improved from (inf|[\d.]+) to ([\d.]+), saving model")


def logged_runs(text: str) -> list[tuple[str, list[float]]]:
    """(heading, per-epoch losses) of each run in the authors' log: a heading is a line of words alone; each
    epoch's loss is the B of the "loss improved from A to B, saving model" line Keras' checkpoint prints."""
    runs: list[tuple[str, list[float]]] = []
    for line in text.splitlines():
        match = IMPROVED.match(line)
        if match:
            if match.group(1) == "inf" and runs[-1][1]:
                raise AssertionError(f"a run starts again under heading {runs[-1][0]!r}")
            runs[-1][1].append(float(match.group(2)))
        elif re.fullmatch(r"\s*[A-Za-z][\w ]*", line) and not line.strip().startswith("warnings"):
            runs.append((line.strip(), []))
    return [run for run in runs if run[1]]


def test_logged_runs_reads_headings_and_epoch_losses():
    text = "Model A\n 5/9 - loss: 6.2\nEpoch 1: loss improved from inf to 5.5, saving model to a.h5\n" \
           "Epoch 1: loss improved from 5.5 to 4.25, saving model to a.h5\n\nModel B\n" \
           "Epoch 1: loss improved from inf to 7.0, saving model to b.h5\n"
    assert logged_runs(text) == [("Model A", [5.5, 4.25]), ("Model B", [7.0])]


@pytest.mark.integration
def test_authors_log_holds_every_logged_run_and_epoch(authors_source):
    folder = authors_source if authors_source.is_dir() else authors_source.parent
    text = (folder / LOG_NAME).read_text(encoding="utf-8")
    assert [(run.heading, list(run.losses)) for run in AUTHORS_LOG] == logged_runs(text)


def test_figure3_endpoints_are_the_logged_curves_ends():
    # The paper's Figure 3 draws the 15-epoch runs of their 3-LSTM model and of Trans_enc3_dec3 + VA term.
    curves = {run.model: run.losses for run in AUTHORS_LOG if len(run.losses) == 15}
    for preset, (first, last) in FIGURE3.items():
        assert curves[preset][0] == pytest.approx(first, abs=0.005)
        assert curves[preset][-1] == pytest.approx(last, abs=0.005)


def test_logged_learning_rates_are_the_code_fidelity_presets():
    for run in AUTHORS_LOG:
        if run.model in TABLE1 or run.model.startswith("Trans_enc3_dec3"):
            assert get_preset(run.model, fidelity="code").learning_rate == run.learning_rate, run.heading
