"""The `img2music` entry point: help for every subcommand, one-line user errors (`tokens decode` on bad files)."""

import json

import pytest

from img2music_tf import cli


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    parser = cli.build_parser()
    names = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public accessor
    out = capsys.readouterr().out
    for name in names:
        assert name in out
        with pytest.raises(SystemExit) as sub_exit:
            cli.main([name, "--help"])
        assert sub_exit.value.code == 0


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("img2music: error:")
    for word in words:
        assert word in err


@pytest.mark.parametrize(("content", "words"), [(bytes(range(256)), "is a binary file"),
                                                ("<start> C4@1.0 caf\xe9".encode("latin-1"), "is not UTF-8 text")])
def test_tokens_decode_on_a_file_that_is_not_text(tmp_path, capsys, content, words):
    (tmp_path / "tokens.bin").write_bytes(content)
    assert cli.main(["tokens", "decode", str(tmp_path / "tokens.bin"), "--out", str(tmp_path / "x.mid")]) == 2
    _one_line_error(capsys, words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.bin"]


def test_tokens_decode_into_a_path_under_a_regular_file(tmp_path, capsys):
    (tmp_path / "tokens.txt").write_text("<start> C4@1.0 <end>\n")
    (tmp_path / "somefile.txt").write_text("x")
    out = tmp_path / "somefile.txt" / "x.mid"
    assert cli.main(["tokens", "decode", str(tmp_path / "tokens.txt"), "--out", str(out)]) == 2
    _one_line_error(capsys, f"cannot write {out}: {tmp_path / 'somefile.txt'} is a file, not a folder")
    assert cli.main(["tokens", "decode", str(tmp_path), "--out", str(tmp_path / "x.mid")]) == 2
    _one_line_error(capsys, "is a folder, not a tokens file")


def test_tokens_decode_into_a_folder(tmp_path, capsys):
    (tmp_path / "tokens.txt").write_text("<start> C4@1.0 <end>\n")
    (tmp_path / "out").mkdir()
    assert cli.main(["tokens", "decode", str(tmp_path / "tokens.txt"), "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, f"cannot write {tmp_path / 'out'}: it is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tokens.txt"]
    assert list((tmp_path / "out").iterdir()) == []


def _python(code_or_args, tmp_path, **env):
    """Run this interpreter on `code_or_args` (a list: arguments) with the package importable; the result."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("TF_CPP_MIN_LOG_LEVEL", "IMG2MUSIC_VERBOSE")}
    environment.update(PYTHONPATH=os.pathsep.join(str(p) for p in (REPO, *env.pop("path", ()))), **env)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=tmp_path, env=environment,
                          timeout=300)


def test_a_tensorflow_command_writes_nothing_to_stderr(tmp_path):
    done = _python(["-m", "img2music_tf", "models", "list", "--scale", "tiny"], tmp_path)
    assert done.returncode == 0 and "Trans_enc3_dec3" in done.stdout
    assert done.stderr == ""


def test_an_argument_that_imports_tensorflow_while_parsing_is_quiet_too(tmp_path):
    done = _python(["-m", "img2music_tf", "gpu", "warm", "--jobs", "1"], tmp_path)  # --jobs has a type of its own
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["img2music: error: argument --jobs: expected ENTRY:PART,... such as "
                                        "0:late,2:all, got '1' (see `img2music gpu warm --help`)"]


def test_quiet_import_drops_only_the_known_start_up_lines(tmp_path):
    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             "I0000 00:00:1796077897.907613   26927 port.cc:153] oneDNN custom operations are on. You may see ...",
             "I0000 00:00:1796077897.908058   26927 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
             "GPU will not be used.",
             "I0000 00:00:1796077923.071131   27315 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to "
             "use available CPU instructions in performance-critical operations.",
             "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
             "appropriate compiler flags."]
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    written = "\n".join([*noise[:2], "E0000 something else went wrong", *noise[2:]]) + "\n"
    (fake / "__init__.py").write_text(f"import os\nos.write(2, {written.encode()!r})\n")
    code = "from img2music_tf import cli; cli.quiet_tensorflow(); import tensorflow; print(tensorflow.__loader__)"
    done = _python(code, tmp_path, path=[fake.parent])
    assert done.returncode == 0 and "SourceFileLoader" in done.stdout
    assert done.stderr == "E0000 something else went wrong\n"
    assert _python(code, tmp_path, path=[fake.parent], IMG2MUSIC_VERBOSE="1").stderr == written


def _every_parser(parser, path=()):
    """(command words, parser) for `parser` and every subcommand below it."""
    import argparse

    yield path, parser
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                yield from _every_parser(sub, (*path, name))


def test_every_help_describes_each_argument_and_shows_each_default_once_and_only_where_there_is_one():
    import argparse

    parsers = dict(_every_parser(cli.build_parser()))
    for path, parser in parsers.items():
        formatter = parser._get_formatter()  # noqa: SLF001
        for action in parser._actions:  # noqa: SLF001
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                continue
            where = f"img2music {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where} has no help"
            text = formatter._expand_help(action)  # noqa: SLF001 - the help line as --help prints it
            assert "(default: None)" not in text and "(default: False)" not in text, f"{where}: {text}"
            assert text.lower().count("default") <= 1, f"{where}: {text}"
    assert "IMAGE-pianoroll.png" in parsers[("generate",)].description


HELP_MODULES = 20  # besides one module per subcommand: cli, the configs (experiments, presets, paths, serve.config)


def test_every_help_loads_the_command_layer_and_the_configs_only(tmp_path):
    code = """
import contextlib, io, json, sys
from img2music_tf import cli
commands = [[]] + [[name] for name in cli.build_parser()._subparsers._group_actions[0].choices]
commands += [["gpu", step] for step in ("pack", "wheels", "run", "warm", "merge")]
for words in commands:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        cli.main([*words, "--help"])
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("img2music_tf", "keras", "tensorflow"))))
"""
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert not [name for name in loaded if not name.startswith("img2music_tf")], loaded
    subcommands = [name for name in loaded if name.startswith("img2music_tf.commands.")]
    assert len(loaded) - len(subcommands) <= HELP_MODULES, loaded
    assert not [name for name in loaded if name.startswith("img2music_tf.study")], loaded


def test_a_full_disk_error_without_a_file_name_is_one_line(capsys):
    import errno

    def full():
        raise OSError(errno.ENOSPC, "No space left on device")

    assert cli.run_reporting(full) == 2
    assert capsys.readouterr().err == "img2music: error: No space left on device\n"
