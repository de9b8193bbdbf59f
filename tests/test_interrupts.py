"""SIGINT and SIGTERM, sent for real at several moments to the commands that write sets of files, end each
with 130 / 143, no traceback and nothing half-written; two commands writing into one folder at once: the
second is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from img2music_tf import cli, files


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    from conftest import REPO

    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "img2music_tf", *args], cwd=cwd, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(process: subprocess.Popen, signum: int, delay: float) -> tuple[int, str]:
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def _hidden_leftovers(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob(".*") if p.name.startswith(".staged-") or p.name == files.LOCK_FILE)


def _assert_stopped_cleanly(status: int, err: str, signum: int, tmp_path: Path) -> None:
    """Interrupted (128 + signal), or done before the signal came (0), or done and then stopped while the
    interpreter shut down (killed by the signal: Python restores the default handlers on its way out)."""
    assert status in (0, 128 + signum, -signum), err
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipeError" not in err
    if status > 0:
        assert err.strip().splitlines()[-1].startswith(f"img2music: interrupted ({signal.Signals(signum).name})")
    assert _hidden_leftovers(tmp_path) == []


@pytest.mark.parametrize(("signum", "delay"), [(signal.SIGTERM, 2.0), (signal.SIGTERM, 6.0),
                                               (signal.SIGINT, 4.0), (signal.SIGTERM, 9.0)])
def test_generate_stopped_by_a_signal_leaves_a_whole_set_or_none(tiny_run, tmp_path, signum, delay):
    pictures = []
    for i in range(6):
        pictures.append(tmp_path / f"pic{i}.png")
        Image.new("RGB", (64, 48), (40 * i, 90, 200 - 30 * i)).save(pictures[-1])
    out = tmp_path / "music"
    process = _start(["generate", *map(str, pictures), "--run", str(tiny_run), "--out", str(out), "--no-wav"],
                     tmp_path)
    status, err = _stop(process, signum, delay)
    _assert_stopped_cleanly(status, err, signum, tmp_path)
    if (out / "summary.json").is_file():
        listed = {piece[kind] for piece in json.loads((out / "summary.json").read_text())["pieces"]
                  for kind in ("midi", "piano_roll")}
        assert {p.name for p in out.iterdir()} == listed | {"summary.json"}
    else:
        assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize(("signum", "delay"), [(signal.SIGTERM, 3.0), (signal.SIGINT, 6.0)])
def test_data_prepare_stopped_by_a_signal_leaves_no_partial_set(tmp_path, signum, delay):
    out = tmp_path / "prepared"
    process = _start(["data", "prepare", "--music", "builtin", "--images", "builtin", "--n-music", "40",
                      "--n-images", "40", "--n-test", "4", "--n-val", "4", "--out", str(out)], tmp_path)
    status, err = _stop(process, signum, delay)
    _assert_stopped_cleanly(status, err, signum, tmp_path)
    if (out / "manifest.json").is_file():
        from img2music_tf.data.prepare import load_prepared

        assert load_prepared(out).pairs  # a whole set
    else:
        assert not out.exists() or list(out.iterdir()) == []
    rerun = _start(["data", "prepare", "--music", "builtin", "--images", "builtin", "--n-music", "40",
                    "--n-images", "40", "--n-test", "4", "--n-val", "4", "--out", str(out)], tmp_path)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err


def test_a_second_command_writing_into_the_same_folder_is_refused(tiny_run, tmp_path, capsys):
    picture = tmp_path / "pic.png"
    Image.new("RGB", (64, 48), (10, 200, 90)).save(picture)
    out = tmp_path / "music"
    with files.output_dir(out):  # the first command, still writing
        assert cli.main(["generate", str(picture), "--run", str(tiny_run), "--out", str(out), "--no-wav"]) == 2
        err = capsys.readouterr().err
        assert err == (f"img2music: error: another img2music command is writing into {out}: wait for it to end, "
                       "or choose another output folder\n")
        assert sorted(p.name for p in out.iterdir()) == [files.LOCK_FILE]
    assert list(out.iterdir()) == []  # the first one ended without writing: its lock is gone
    assert cli.main(["generate", str(picture), "--run", str(tiny_run), "--out", str(out), "--no-wav"]) == 0
    assert files.LOCK_FILE not in {p.name for p in out.iterdir()}


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def test_tokens_report_stopped_by_a_signal_stops_its_workers_quietly(tmp_path):
    import shutil

    import pretty_midi

    folder = tmp_path / "midi"
    folder.mkdir()
    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    piano = pretty_midi.Instrument(program=0)
    piano.notes += [pretty_midi.Note(80, 48 + step % 30, step * 0.3, step * 0.3 + 0.25) for step in range(120)]
    midi.instruments.append(piano)
    midi.write(str(folder / "0000.mid"))
    for index in range(1, 3000):  # far more than a fast machine reads in the moments below
        shutil.copyfile(folder / "0000.mid", folder / f"{index:04d}.mid")
    process = _start(["tokens", "report", str(folder), "--workers", "2", "--no-cache"], tmp_path)
    deadline = time.monotonic() + 120
    while process.poll() is None and len(_children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the signal comes once both workers run
    status, err = _stop(process, signal.SIGTERM, 1.0)
    _assert_stopped_cleanly(status, err, signal.SIGTERM, tmp_path)
    assert status == 143, "the report finished before the signal: give it more files"


def test_an_interrupt_swallowed_in_a_callback_is_not_reported_but_other_errors_are(monkeypatch):
    """Where a signal lands in a callback (a weakref's, JAX's gc hook), Python reports it through
    sys.unraisablehook, which prints a traceback; the command raises it again itself (`interrupts.check`)."""
    import types

    from img2music_tf import interrupts

    def unraisable(error):
        return types.SimpleNamespace(exc_type=type(error), exc_value=error, exc_traceback=None,
                                     err_msg="Exception ignored in", object=None)

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda args: reported.append(args.exc_value))
    before = sys.unraisablehook
    bug = ValueError("a real bug")
    with interrupts.handled():
        sys.unraisablehook(unraisable(interrupts.Interrupted(signal.SIGINT)))
        sys.unraisablehook(unraisable(bug))
    assert reported == [bug]
    assert sys.unraisablehook is before
