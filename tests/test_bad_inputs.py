"""A battery of bad values for every subcommand (issue: reliability round 3): each ends with one line
`img2music: error: ...`, exit 2, before any work starts, and leaves nothing behind."""

import pytest

from img2music_tf import cli

LONG = "x" * 300  # longer than a file name may be (255 bytes on common file systems)

# (arguments, words the error line must hold); "{pic}" and "{tokens}" are filled in with real files
BAD_VALUES = [
    ("data prepare --music builtin --images builtin --seed -1 --out OUT", "--seed: must be an integer from 0"),
    ("generate {pic} --seed -1 --out OUT", "--seed: must be an integer from 0 to 4294967295, got -1"),
    ("generate {pic} --seed 4294967296 --out OUT", "--seed: must be an integer from 0"),
    ("generate {pic} --method sample --temperature nan --out OUT", "--temperature: must be a number above 0"),
    ("generate {pic} --method sample --temperature inf --out OUT", "got inf"),
    ("generate {pic} --method sample --temperature 0 --out OUT", "got 0"),
    ("generate {pic} --max-len 100000000 --out OUT", "--max-len: must be an integer from 2 to 4096"),
    ("generate {pic} --tries 0 --out OUT", "--tries: must be an integer from 1"),
    ("generate {pic} --top-k -3 --out OUT", "--top-k: must be an integer of at least 0, got -3"),
    ("generate {pic} --seed one --out OUT", "--seed: must be an integer from 0 to 4294967295, got 'one'"),
    ("models list --vocab-size 1000000000000", "--vocab-size: must be an integer from 4 to 100000"),
    ("models features {pic} --image-size 100000 --out OUT/f.npy", "--image-size: must be an integer from 32"),
    ("train --data OUT --preset Trans_enc3_dec3 --lambda-va nan --out OUT/run", "--lambda-va: must be a number"),
    ("train --data OUT --preset Trans_enc3_dec3 --lambda-va -1 --out OUT/run", "got -1"),
    ("train --data OUT --preset Trans_enc3_dec3 --seed -5 --out OUT/run", "--seed: must be an integer from 0"),
    ("va train --learning-rate nan --out OUT/va", "--learning-rate: must be a number above 0 up to 1, got nan"),
    ("va train --learning-rate 1e300 --out OUT/va", "got 1e300"),
    ("demo --seed -2 --out OUT", "--seed: must be an integer from 0"),
]


@pytest.mark.parametrize(("line", "words"), BAD_VALUES, ids=[line.split(" --out")[0] for line, _ in BAD_VALUES])
def test_a_bad_value_is_one_line_and_exit_2(tmp_path, capsys, line, words):
    pic = tmp_path / "pic.png"
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 40, 40)).save(pic)
    out = tmp_path / "out"
    argv = [part.replace("OUT", str(out)).replace("{pic}", str(pic)) for part in line.split()]
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith("img2music: error: argument ")
    assert words in captured.err and "--help`" in captured.err
    assert not out.exists()


@pytest.mark.parametrize(("content", "words"), [
    ("<start> C4@-1 C4@nan D4@1.0 <end>", "2 malformed token(s): 'C4@-1', 'C4@nan'"),
    ("<start> C4@1e30 <end>", "'C4@1e30'"),
    ("<start> " + "C4@0.5 " * 10_001 + "<end>", "holds 10003 tokens; at most 10000"),
])
def test_tokens_decode_refuses_malformed_or_endless_tokens(tmp_path, capsys, content, words):
    (tmp_path / "tokens.txt").write_text(content)
    assert cli.main(["tokens", "decode", str(tmp_path / "tokens.txt"), "--out", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("img2music: error:") and words in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.txt"]


@pytest.mark.parametrize("line", ["tokens decode {tokens} --out OUT/LONG.mid", "generate {tokens} --out OUT/LONG",
                                  "data prepare --music builtin "
                                  "--images builtin --n-music 12 --n-images 12 --n-test 2 --n-val 2 --out OUT/LONG"])
def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path, capsys, line):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("<start> C4@1.0 <end>")
    if line.startswith("generate"):  # a picture in its place
        from PIL import Image

        Image.new("RGB", (40, 30), (20, 40, 200)).save(tokens, format="PNG")
    argv = [part.replace("{tokens}", str(tokens)).replace("OUT", str(tmp_path)).replace("LONG", LONG)
            for part in line.split()]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("img2music: error: File name too long: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.txt"]


def test_the_decode_help_states_the_limits_the_code_applies(capsys):
    from img2music_tf.tokens import MAX_DECODE_TOKENS, MAX_TOKEN_BEATS

    with pytest.raises(SystemExit):
        cli.main(["tokens", "decode", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"0 to {MAX_TOKEN_BEATS} beats" in text and f"{MAX_DECODE_TOKENS} tokens" in text


def test_a_missing_picture_is_said_before_tensorflow_loads(tmp_path):
    """`generate` checks its pictures first: a typo costs no TensorFlow start-up (5 s on 2 cores)."""
    import subprocess
    import sys

    from conftest import REPO

    code = ("import sys; from img2music_tf import cli; status = cli.main(['generate', 'nope.jpg', '--out', 'o']); "
            "print(status, 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert done.stderr.startswith("img2music: error:") and "nope.jpg" in done.stderr


@pytest.mark.parametrize("line", ["bench_tokenize.py --source /nonexistent/eimg", "bench_tokenize.py --limit -1",
                                  "bench_train_step.py --songs 0", "bench_train_step.py --preset Nope",
                                  "memorisation_probe.py --scale nope", "va_alignment.py --scale nope",
                                  "image_features.py --source /nonexistent/e6.zip --out OUT"])
def test_the_reproduce_scripts_follow_the_commands_error_convention(tmp_path, line):
    """A user's mistake to a reproduce/ script: exit 2 and an error line, no traceback, nothing written."""
    import subprocess
    import sys

    from conftest import REPO

    script, *args = line.replace("OUT", str(tmp_path / "out")).split()
    done = subprocess.run([sys.executable, str(REPO / "reproduce" / script), *args], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                             "IMG2MUSIC_HOME": str(tmp_path / "home")}, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "error:" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_regimes_help_shows_help_and_writes_nothing(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    before = (REPO / "results" / "regimes.md").stat().st_mtime_ns
    done = subprocess.run([sys.executable, str(REPO / "reproduce" / "regimes.py"), "--help"], capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout
    assert (REPO / "results" / "regimes.md").stat().st_mtime_ns == before
