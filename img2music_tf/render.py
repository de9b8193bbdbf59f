"""Listening to and looking at generated MIDI: a WAV file and a piano-roll PNG.

WAV: FluidSynth plays the MIDI through a General MIDI soundfont, by default the
small TimGM6mb.sf2 that pretty_midi ships. FluidSynth needs the system library
libfluidsynth (Debian/Ubuntu: `apt-get install -y libfluidsynth3`; macOS:
`brew install fluid-synth`) besides the pyfluidsynth package. Without it,
`write_wav` fails with a UserError saying so; `synth="sine"` asks explicitly
for pretty_midi's plain sine-wave synthesis instead, which needs no library.

Both functions write atomically through `img2music_tf.files.atomic_path`.
"""

from __future__ import annotations

import warnings
import wave
from pathlib import Path

import numpy as np

from img2music_tf.errors import UserError
from img2music_tf.files import atomic_path, ensure_writable_dir

SYNTHS = ("fluidsynth", "sine")
TAIL_SECONDS = 1.0  # silence kept after the last note ends, so the last notes can ring out
PEAK = 0.9  # peak amplitude of the written audio, below full scale to leave headroom

FLUIDSYNTH_HELP = (
    "install the FluidSynth library (Debian/Ubuntu: `apt-get install -y libfluidsynth3`, "
    "macOS: `brew install fluid-synth`) and `pip install pyfluidsynth`, "
    "or render plain sine waves with synth='sine'"
)


def default_soundfont() -> Path:
    """The General MIDI soundfont that pretty_midi ships (TimGM6mb.sf2, about 6 MB)."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def read_midi(midi_path: str | Path):
    """Load a MIDI file with pretty_midi, or raise a UserError that says why not."""
    import pretty_midi

    midi_path = Path(midi_path)
    if not midi_path.is_file():
        raise UserError(f"MIDI file not found: {midi_path}")
    try:
        with warnings.catch_warnings():
            # EIMG files put tempo events on a non-zero track; pretty_midi warns but reads them.
            warnings.filterwarnings("ignore", message="Tempo, Key or Time signature change events")
            return pretty_midi.PrettyMIDI(str(midi_path))
    except Exception as error:  # mido raises many kinds on a corrupt file
        raise UserError(f"cannot read MIDI file {midi_path}: {error}") from None


def _synthesize_fluidsynth(midi, sample_rate: int, soundfont: Path) -> np.ndarray:
    """Audio samples of `midi` played by FluidSynth through `soundfont`."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; fails here without libfluidsynth)
    except ImportError as error:
        raise UserError(f"FluidSynth is not available ({error}): {FLUIDSYNTH_HELP}") from None
    if not soundfont.is_file():
        raise UserError(f"soundfont not found: {soundfont}")
    return midi.fluidsynth(fs=sample_rate, synthesizer=str(soundfont))


def write_wav(
    midi_path: str | Path,
    wav_path: str | Path,
    sample_rate: int = 22050,
    soundfont: str | Path | None = None,
    synth: str = "fluidsynth",
) -> Path:
    """Render a MIDI file to a mono 16-bit WAV file; return the WAV path.

    The audio lasts until the last note ends plus `TAIL_SECONDS`, and is scaled
    to a peak of `PEAK`. A MIDI without notes gives `TAIL_SECONDS` of silence,
    so a batch of generated pieces never stops on an empty one.
    synth: "fluidsynth" (default; `soundfont` or pretty_midi's TimGM6mb.sf2) or
    "sine" (pretty_midi's sine waves, no system library, no soundfont).
    """
    if synth not in SYNTHS:
        raise UserError(f"unknown synth {synth!r}; choose one of {', '.join(SYNTHS)}")
    if int(sample_rate) != sample_rate or sample_rate < 1000:
        raise UserError(f"sample rate must be a whole number of Hz >= 1000, got {sample_rate}")
    sample_rate = int(sample_rate)
    midi = read_midi(midi_path)
    wav_path = Path(wav_path)
    ensure_writable_dir(wav_path.parent)

    n_samples = int(round((midi.get_end_time() + TAIL_SECONDS) * sample_rate))
    audio = np.zeros(n_samples)  # (S,)
    if any(instrument.notes for instrument in midi.instruments):
        if synth == "fluidsynth":
            soundfont = Path(soundfont) if soundfont is not None else default_soundfont()
            rendered = _synthesize_fluidsynth(midi, sample_rate, soundfont)
        else:
            rendered = midi.synthesize(fs=sample_rate)
        rendered = rendered[:n_samples]
        audio[: len(rendered)] = rendered
        peak = np.abs(audio).max()
        if peak > 0:
            audio *= PEAK / peak

    pcm = np.round(audio * 32767).astype("<i2")  # (S,) int16 little-endian
    with atomic_path(wav_path) as tmp:
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(pcm.tobytes())
    return wav_path


def _pitch_ticks(low: int, high: int) -> list[int]:
    """Pitches to label on the axis: every pitch over up to two octaves, else every C and G."""
    if high - low <= 24:
        return list(range(low, high + 1))
    return [pitch for pitch in range(low, high + 1) if pitch % 12 in (0, 7)]


def _instrument_label(instrument) -> str:
    """The track name without control characters (EIMG names end in NUL), else the GM program name."""
    import pretty_midi

    name = "".join(char for char in instrument.name if char.isprintable()).strip()
    return name or pretty_midi.program_to_instrument_name(instrument.program)


def write_piano_roll(midi_path: str | Path, png_path: str | Path, title: str | None = None) -> Path:
    """Draw a MIDI file as a piano roll (pitch vs seconds) to a PNG; return the PNG path.

    Notes are bars coloured by instrument (darker = louder); the pitch axis is
    labelled with note names (C4 = MIDI 60) and dotted lines mark the downbeats.
    The title defaults to the file name.
    """
    import pretty_midi
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure

    midi = read_midi(midi_path)
    png_path = Path(png_path)
    ensure_writable_dir(png_path.parent)
    pitches = [note.pitch for instrument in midi.instruments for note in instrument.notes]

    figure = Figure(figsize=(12, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colors = [f"C{i % 10}" for i in range(len(midi.instruments))]
    for color, instrument in zip(colors, midi.instruments):
        if not instrument.notes:
            continue
        axes.barh(
            [note.pitch for note in instrument.notes],
            [note.end - note.start for note in instrument.notes],
            left=[note.start for note in instrument.notes],
            height=0.8,
            color=[to_rgba(color, 0.35 + 0.65 * note.velocity / 127) for note in instrument.notes],
            edgecolor="black",
            linewidth=0.3,
        )
    if pitches:
        low, high = min(pitches) - 1, max(pitches) + 1
        end = midi.get_end_time()
        for downbeat in midi.get_downbeats():
            axes.axvline(downbeat, color="grey", linestyle=":", linewidth=0.6)
    else:
        low, high, end = 59, 73, 1.0
        axes.text(0.5, 0.5, "no notes", transform=axes.transAxes, ha="center", va="center")
    ticks = _pitch_ticks(low, high)
    axes.set_yticks(ticks, [pretty_midi.note_number_to_name(pitch) for pitch in ticks])
    axes.set_ylim(low - 0.5, high + 0.5)
    axes.set_xlim(0, end)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("pitch")
    axes.set_title(title if title is not None else Path(midi_path).name)
    if len(midi.instruments) > 1:
        from matplotlib.patches import Patch

        handles = [
            Patch(color=color, label=f"{i + 1}: {_instrument_label(instrument)}")
            for i, (color, instrument) in enumerate(zip(colors, midi.instruments))
        ]
        axes.legend(handles=handles, loc="upper right", fontsize="small")
    axes.grid(axis="y", color="lightgrey", linewidth=0.4)
    axes.set_axisbelow(True)
    figure.tight_layout()

    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png")
    return png_path
