"""The `img2music` entry point: help for every subcommand, one-line user errors."""

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
