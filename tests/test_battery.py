"""A battery over every subcommand `img2music --help` lists and every reproduce/ script (issue 27): --help ends
with exit 0; an unknown option, a value of the wrong type or outside its choices, a missing or damaged input and a
damaged run folder each end with exit 2 and one line `img2music: error: ...`, no traceback, nothing left at --out.

The subcommands and their options are read from the parser itself, so a new one is walked without an edit here;
each must also have a case in RUNTIME (a mistake argparse cannot see) or be in ARGPARSE_ONLY, checked by the last
test, which prints how
many cases of each kind the battery holds. In-process through `cli.main`; one subprocess checks the real exit."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from PIL import Image

from img2music_tf import cli

BAD = "not-a-value"
SCRIPTS = sorted(path.name for path in (REPO / "reproduce").glob("*.py"))


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, parser) of every runnable subcommand, nested ones included."""
    groups = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
        return
    for name, child in groups[0].choices.items():
        yield from _leaves(child, (*path, name))


def _rejects(action: argparse.Action) -> bool:
    """Whether argparse itself refuses BAD for this argument (a typed number, a choice)."""
    if action.choices is not None:
        return True
    if action.type is None or action.type in (str, Path):
        return False
    try:
        action.type(BAD)
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        return True
    return False


LEAVES = {" ".join(path): parser for path, parser in _leaves(cli.build_parser())}
BAD_TYPES = [(command, action.option_strings[0] if action.option_strings else None)
             for command, parser in LEAVES.items() for action in parser._actions
             if not isinstance(action, argparse._HelpAction) and action.nargs != 0 and _rejects(action)]

# mistakes argparse cannot see, at least one per subcommand: (command line, words the error line holds); MISSING is
# a path that does not exist, OUT an output path that must stay absent, {pic}/{text}/{midi}/{json} real files and
# {run:DAMAGE} a copy of the tiny run folder damaged as DAMAGES says
RUNTIME = [
    ("data prepare --music folder --images builtin --music-source MISSING --out OUT", "MISSING"),
    ("data prepare --music builtin --images builtin --n-test -1 --out OUT", "-1"),
    ("demo --epochs 0 --out OUT", "--epochs"),
    ("generate MISSING.png --out OUT", "MISSING.png"),
    ("generate {text} --out OUT", "text.png"),
    ("generate {pic} --run MISSING --out OUT", "MISSING"),
    ("generate {pic} --run {run:empty} --out OUT", "not a finished run folder"),
    ("generate {pic} --run {run:config_cut} --out OUT", "config.json"),
    ("generate {pic} --run {run:config_lacks_max_len} --out OUT", "model.max_len"),
    ("generate {pic} --run {run:model_cut} --out OUT", "damaged or incomplete"),
    ("generate {pic} --run {run:vocabulary_other} --out OUT", "vocabulary.json"),
    ("generate {pic} --run {run:vocabulary_gone} --out OUT", "vocabulary.json"),
    ("gpu pack --seeds 0 --work OUT --out OUT/pack", "--seeds"),
    ("gpu pack --presets Nope --work OUT --out OUT/pack", "Nope"),
    ("gpu wheels --out {text}", "it is a file"),
    ("gpu pack --queue paper --presets LSTM_enc2 --work OUT --out OUT/pack", "--queue paper names its presets"),
    ("gpu run --pack MISSING --out OUT", "JAX"),
    ("gpu run --lanes 0 --pack MISSING --out OUT", "--lanes must be 1 or more"),
    ("gpu warm --pack MISSING --jobs 0:all", "JAX" if importlib.util.find_spec("jax") is None else "MISSING"),
    ("gpu merge MISSING --out OUT", "MISSING"),
    ("gpu merge {json} --out OUT", "not the GPU's results"),
    ("models features MISSING.png --out OUT/f.npy", "MISSING.png"),
    ("reproduce table1 --seeds 0 --work OUT --out OUT", "--seeds"),
    ("reproduce table1 --va-predictor MISSING --work OUT --out OUT", "MISSING"),
    ("serve --run MISSING", "MISSING"),
    ("serve --max-queue 0", "--max-queue"),
    ("tokens report MISSING --json OUT/r.json", "MISSING"),
    ("tokens encode MISSING.mid", "MISSING.mid"),
    ("tokens encode {text}", "text.png"),
    ("tokens decode MISSING.txt --out OUT/x.mid", "MISSING.txt"),
    ("train --data MISSING --preset Trans_enc3_dec3 --out OUT", "MISSING"),
    ("train --data MISSING --preset Trans_enc3_dec3 --epochs 0 --out OUT", "--epochs"),
    ("va train --epochs 0 --out OUT", "--epochs"),
    ("va train --source MISSING --out OUT", "MISSING"),
    ("va predict MISSING.mid --model MISSING", "MISSING.mid"),
    ("va predict {midi} --model {text}", "is a file"),
]
ARGPARSE_ONLY = {"models list"}  # every value it takes is checked by argparse


def _damage(folder: Path, how: str) -> None:
    if how == "empty":
        shutil.rmtree(folder)
        folder.mkdir()
    elif how == "config_cut":
        (folder / "config.json").write_text((folder / "config.json").read_text()[:40])
    elif how == "config_lacks_max_len":
        config = json.loads((folder / "config.json").read_text())
        del config["model"]["max_len"]
        (folder / "config.json").write_text(json.dumps(config))
    elif how == "model_cut":
        (folder / "model.keras").write_bytes((folder / "model.keras").read_bytes()[:2000])
    elif how == "vocabulary_other":
        vocabulary = json.loads((folder / "vocabulary.json").read_text())
        vocabulary["tokens"][-2:] = vocabulary["tokens"][:-3:-1]  # same size, two tokens swapped
        (folder / "vocabulary.json").write_text(json.dumps(vocabulary))
    elif how == "vocabulary_gone":
        (folder / "vocabulary.json").unlink()


@pytest.fixture
def inputs(tmp_path, tiny_run):
    """The files a RUNTIME line names: a picture, a text file named like a picture, a MIDI file, a JSON list."""
    from data_fixtures import write_midi

    Image.new("RGB", (40, 30), (200, 40, 40)).save(tmp_path / "pic.png")
    (tmp_path / "text.png").write_text("not a picture")
    (tmp_path / "list.json").write_text("[]")
    return {"pic": tmp_path / "pic.png", "text": tmp_path / "text.png", "json": tmp_path / "list.json",
            "midi": write_midi(tmp_path / "piece.mid"), "run": tiny_run}


def _argv(line: str, tmp_path: Path, inputs: dict) -> list[str]:
    argv = []
    for part in line.split():
        if part.startswith("{run:"):
            how = part[len("{run:"):-1]
            folder = tmp_path / f"run-{how}"
            shutil.copytree(inputs["run"], folder)
            _damage(folder, how)
            part = str(folder)
        for name in ("pic", "text", "json", "midi"):
            part = part.replace(f"{{{name}}}", str(inputs[name]))
        argv.append(part.replace("MISSING", str(tmp_path / "MISSING")).replace("OUT", str(tmp_path / "OUT")))
    return argv


def _assert_one_error_line(err: str, words: str = "") -> None:
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("img2music: error: "), err
    assert words in err


@pytest.mark.parametrize("command", sorted(LEAVES))
def test_help_exits_0(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main([*command.split(), "--help"])
    assert stopped.value.code == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: img2music " + command) and captured.err == ""


@pytest.mark.parametrize("command", sorted(LEAVES))
def test_an_unknown_option_is_one_line(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main([*command.split(), "--no-such-option"])
    assert stopped.value.code == 2
    _assert_one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(("command", "option"), BAD_TYPES, ids=[f"{c} {o or 'positional'}" for c, o in BAD_TYPES])
def test_a_value_argparse_refuses_is_one_line(command, option, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main([*command.split(), *([option] if option else []), BAD])
    assert stopped.value.code == 2
    _assert_one_error_line(capsys.readouterr().err, BAD)


@pytest.mark.parametrize(("line", "words"), RUNTIME, ids=[line for line, _ in RUNTIME])
def test_a_mistake_found_by_the_command_is_one_line_and_leaves_nothing(line, words, tmp_path, inputs, capsys,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(_argv(line, tmp_path, inputs)) == 2
    captured = capsys.readouterr()
    _assert_one_error_line(captured.err, words.replace("MISSING", str(tmp_path / "MISSING")))
    assert not (tmp_path / "OUT").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_reproduce_script_shows_its_help_and_refuses_an_unknown_option_in_one_line(script, capsys, monkeypatch):
    for argv, status in ((["--help"], 0), (["--no-such-option"], 2)):
        monkeypatch.setattr(sys, "argv", [script, *argv])
        with pytest.raises(SystemExit) as stopped:
            runpy.run_path(str(REPO / "reproduce" / script), run_name="__main__")
        assert stopped.value.code == status
        captured = capsys.readouterr()
        if status == 0:
            assert captured.out.startswith("usage: ") and captured.err == ""
        else:
            _assert_one_error_line(captured.err, "--no-such-option")


def test_the_installed_command_exits_2_in_one_line_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "img2music_tf", "generate", str(tmp_path / "nope.png"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and done.stdout == ""
    _assert_one_error_line(done.stderr, "nope.png")


def test_the_battery_reaches_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = re.findall(r"^    (\w+)\s", capsys.readouterr().out, re.MULTILINE)  # the COMMAND list of --help
    assert listed and sorted(listed) == sorted({command.split()[0] for command in LEAVES})
    covered = {command for command in LEAVES for line, _ in RUNTIME if f"{line} ".startswith(f"{command} ")}
    assert sorted(set(LEAVES) - covered - ARGPARSE_ONLY) == [], "subcommands without a RUNTIME case"
    with capsys.disabled():
        print(f"\nbattery: {len(LEAVES)} subcommands (--help, unknown option), {len(BAD_TYPES)} refused values, "
              f"{len(RUNTIME)} mistakes found by the commands, {len(SCRIPTS)} reproduce scripts")
