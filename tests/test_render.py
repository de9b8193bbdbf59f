"""WAV rendering and piano rolls of a tiny MIDI file the tests write themselves."""

from __future__ import annotations

import sys
import wave

import numpy as np
import pretty_midi
import pytest
from PIL import Image

from conftest import SEED
from img2music_tf import render
from img2music_tf.errors import UserError


def fluidsynth_available() -> bool:
    try:
        import fluidsynth  # noqa: F401
    except ImportError:
        return False
    return True


needs_fluidsynth = pytest.mark.skipif(
    not fluidsynth_available(), reason="libfluidsynth missing: apt-get install -y libfluidsynth3"
)


@pytest.fixture
def tiny_midi(tmp_path):
    """Four quarter notes at 120 bpm, a C major arpeggio: notes end at 2.0 s."""
    rng = np.random.default_rng(SEED)
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0, name="piano")
    for i, pitch in enumerate((60, 64, 67, 72)):
        velocity = int(rng.integers(60, 110))
        piano.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch, start=0.5 * i, end=0.5 * i + 0.5))
    midi.instruments.append(piano)
    path = tmp_path / "tiny.mid"
    midi.write(str(path))
    return path


def read_wav(path):
    with wave.open(str(path), "rb") as audio:
        frames = audio.readframes(audio.getnframes())
        return audio.getframerate(), audio.getnchannels(), np.frombuffer(frames, dtype="<i2")


@needs_fluidsynth
def test_fluidsynth_wav_lasts_until_the_notes_end_plus_the_tail(tiny_midi, tmp_path):
    out = render.write_wav(tiny_midi, tmp_path / "out" / "tiny.wav", sample_rate=16000)
    rate, channels, samples = read_wav(out)
    assert (rate, channels) == (16000, 1)
    assert len(samples) / rate == pytest.approx(2.0 + render.TAIL_SECONDS, abs=0.01)
    assert np.abs(samples).max() == pytest.approx(render.PEAK * 32767, abs=2)
    # Sound while the notes play: every 0.5 s note has energy well above silence.
    for i in range(4):
        segment = samples[int((0.5 * i + 0.1) * rate) : int((0.5 * i + 0.4) * rate)].astype(float)
        assert np.sqrt(np.mean(segment**2)) > 300
    assert [p.name for p in tmp_path.joinpath("out").iterdir()] == ["tiny.wav"]


def test_sine_wav_is_explicit_and_needs_no_library(tiny_midi, tmp_path):
    out = render.write_wav(tiny_midi, tmp_path / "tiny.wav", sample_rate=8000, synth="sine")
    rate, _, samples = read_wav(out)
    assert len(samples) / rate == pytest.approx(3.0, abs=0.01)
    # The dominant frequency over the first note is C4 = 261.6 Hz.
    first = samples[int(0.05 * rate) : int(0.45 * rate)].astype(float)
    spectrum = np.abs(np.fft.rfft(first))
    peak_hz = np.fft.rfftfreq(len(first), 1 / rate)[spectrum.argmax()]
    assert peak_hz == pytest.approx(261.6, abs=5)


def test_missing_fluidsynth_says_how_to_install(tiny_midi, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # makes `import fluidsynth` fail
    with pytest.raises(UserError, match="apt-get install -y libfluidsynth3"):
        render.write_wav(tiny_midi, tmp_path / "tiny.wav")
    assert not (tmp_path / "tiny.wav").exists()


def test_empty_midi_renders_the_silent_tail(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    midi.instruments.append(pretty_midi.Instrument(program=0))
    midi.write(str(tmp_path / "empty.mid"))
    rate, _, samples = read_wav(render.write_wav(tmp_path / "empty.mid", tmp_path / "empty.wav"))
    assert len(samples) == rate * render.TAIL_SECONDS
    assert not samples.any()


def test_wav_rejects_bad_inputs(tiny_midi, tmp_path):
    with pytest.raises(UserError, match="not found"):
        render.write_wav(tmp_path / "missing.mid", tmp_path / "x.wav")
    with pytest.raises(UserError, match="soundfont not found"):
        render.write_wav(tiny_midi, tmp_path / "x.wav", soundfont=tmp_path / "missing.sf2")
    with pytest.raises(UserError, match="unknown synth"):
        render.write_wav(tiny_midi, tmp_path / "x.wav", synth="organ")
    with pytest.raises(UserError, match="sample rate"):
        render.write_wav(tiny_midi, tmp_path / "x.wav", sample_rate=0)
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(UserError, match="cannot read"):
        render.write_wav(tmp_path / "bad.mid", tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_piano_roll_is_a_png_of_sensible_size(tiny_midi, tmp_path):
    out = render.write_piano_roll(tiny_midi, tmp_path / "rolls" / "tiny.png", title="arpeggio")
    with Image.open(out) as image:
        assert image.format == "PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("L"))
    assert 800 <= width <= 2000 and 300 <= height <= 1000
    # Something is drawn: not a blank canvas.
    assert (pixels < 200).mean() > 0.01
    assert [p.name for p in tmp_path.joinpath("rolls").iterdir()] == ["tiny.png"]


def test_piano_roll_labels_pitches_with_note_names():
    assert render._pitch_ticks(59, 61) == [59, 60, 61]
    assert [pretty_midi.note_number_to_name(p) for p in render._pitch_ticks(40, 80)] == [
        "G2", "C3", "G3", "C4", "G4", "C5", "G5"
    ]


def test_piano_roll_of_empty_midi_and_missing_input(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    midi.write(str(tmp_path / "empty.mid"))
    with Image.open(render.write_piano_roll(tmp_path / "empty.mid", tmp_path / "empty.png")) as image:
        assert image.format == "PNG"
    with pytest.raises(UserError, match="not found"):
        render.write_piano_roll(tmp_path / "missing.mid", tmp_path / "missing.png")
    assert not (tmp_path / "missing.png").exists()
