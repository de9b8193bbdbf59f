"""The `img2music` entry point: help for every subcommand, one-line user errors (`tokens decode` on bad files)."""

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
