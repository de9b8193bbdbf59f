"""`prepare` / `img2music data prepare`: plain files written once, reused, guarded; and the mirrors end to end."""

import csv
import errno
import json

import pytest
from conftest import SEED
from data_fixtures import make_emotion6, make_eimg, write_image, write_midi

from img2music_tf import cli
from img2music_tf.data.prepare import load_prepared, prepare
from img2music_tf.errors import UserError


def _folder_sources(tmp_path, n_music=12, n_images=5):
    """A music CSV and an image CSV for the `folder` source."""
    lines = ["path,valence,arousal"]
    for n in range(n_music):
        write_midi(tmp_path / "m" / f"s{n:02d}.mid", pitches=(60 + n % 12,))
        lines.append(f"s{n:02d}.mid,{1 + n * 8 / (n_music - 1):.3f},{9 - n * 8 / (n_music - 1):.3f}")
    lines.append("broken.mid,5,5")
    (tmp_path / "m" / "broken.mid").write_bytes(b"MThd")
    (tmp_path / "m" / "labels.csv").write_text("\n".join(lines) + "\n")
    lines = ["path,valence,arousal"]
    for n in range(n_images):
        write_image(tmp_path / "i" / f"p{n}.png", fmt="PNG", colour=(40 * n, 0, 0))
        lines.append(f"p{n}.png,{1 + 2 * n},{9 - 2 * n}")
    (tmp_path / "i" / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "m", tmp_path / "i"


def _prepare(tmp_path, out, **kwargs):
    music, images = _folder_sources(tmp_path)
    options = dict(music="folder", images="folder", music_source=music, image_source=images, seed=SEED,
                   n_test=3, n_val=2)
    return prepare(out=out, **{**options, **kwargs})


def test_prepare_writes_plain_files_and_loads_them_back(tmp_path):
    out = tmp_path / "prep"
    data = _prepare(tmp_path, out)
    assert not data.reused
    assert {p.name for p in out.iterdir()} == {
        "music.csv", "images.csv", "pairs.csv", "split.json", "tokens.json", "skipped.csv", "summary.txt", "va.png",
        "manifest.json",
    }
    assert data.tokens is None and load_prepared(out).tokens is None  # tokenised by us, from the MIDI files
    assert len(data.music) == 12 and len(data.images) == 5 and len(data.pairs) == 12
    assert {k: len(v) for k, v in data.split.items()} == {"train": 7, "val": 2, "test": 3}
    assert sorted(p.music.id for p in data.pairs_in("test")) == data.split["test"]
    assert (out / "va.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    skipped = list(csv.DictReader(open(out / "skipped.csv")))
    assert [(r["source"], r["item"]) for r in skipped] == [("music", "broken")]
    assert "music broken: unreadable MIDI" in data.summary
    loaded = load_prepared(out)
    assert loaded.pairs == data.pairs and loaded.split == data.split
    assert loaded.skipped["music"] == data.skipped["music"]
    with pytest.raises(UserError, match="unknown split"):
        loaded.pairs_in("dev")


def test_prepare_reuses_the_folder_and_guards_other_inputs(tmp_path):
    out = tmp_path / "prep"
    first = _prepare(tmp_path, out)
    stamp = (out / "pairs.csv").stat().st_mtime_ns
    again = _prepare(tmp_path, out)
    assert again.reused and again.pairs == first.pairs
    assert (out / "pairs.csv").stat().st_mtime_ns == stamp
    with pytest.raises(UserError, match=r"seed 1234 -> 1235.*--force"):
        _prepare(tmp_path, out, seed=SEED + 1)
    redone = _prepare(tmp_path, out, seed=SEED + 1, overwrite=True)
    assert not redone.reused and json.loads((out / "manifest.json").read_text())["inputs"]["seed"] == SEED + 1


def test_load_prepared_refuses_incomplete_or_stale_folders(tmp_path):
    with pytest.raises(UserError, match="not a prepared data folder"):
        load_prepared(tmp_path)
    out = tmp_path / "prep"
    data = _prepare(tmp_path, out)
    data.music[0].path.unlink()
    with pytest.raises(UserError, match="are gone"):
        load_prepared(out)


def test_n_music_and_n_images_take_items_spread_over_the_ids(tmp_path):
    data = _prepare(tmp_path, tmp_path / "prep", n_music=7, n_images=3)
    assert [i.id for i in data.music] == ["s00", "s02", "s04", "s06", "s07", "s09", "s11"]
    assert [i.id for i in data.images] == ["p0", "p2", "p4"]


def test_prepare_rejects_a_source_in_the_wrong_role(tmp_path):
    with pytest.raises(UserError, match="not a music source"):
        prepare(music="emotion6", images="emotion6", out=tmp_path)


def test_cli_prepare_eimg_and_emotion6_files(tmp_path, capsys):
    eimg_dir = make_eimg(tmp_path / "eimg")
    archive = make_emotion6(tmp_path / "e6")
    out = tmp_path / "prep"
    args = ["data", "prepare", "--music", "eimg", "--images", "emotion6", "--out", str(out),
            "--music-source", str(eimg_dir), "--image-source", str(archive), "--n-test", "1", "--n-val", "1"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "music: eimg" in printed and "4 items, 3 skipped" in printed
    assert "images: emotion6" in printed and "6 items, 3 skipped" in printed
    assert "split (seed 0): train 2, val 1, test 1" in printed
    assert "Annotator" in printed  # the bad raw ratings are listed as warnings
    assert cli.main(args) == 0
    assert "reusing it" in capsys.readouterr().out
    assert cli.main([*args, "--seed", "5"]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value"), [("--n-music", "0"), ("--n-images", "0"), ("--n-images", "-3")])
def test_cli_prepare_refuses_fewer_than_one_item(tmp_path, capsys, option, value):
    out = tmp_path / "prep"
    assert cli.main(["data", "prepare", "--music", "builtin", "--images", "builtin", "--out", str(out),
                     option, value]) == 2
    assert capsys.readouterr().err == f"img2music: error: {option} must be at least 1, got {value}\n"
    assert not out.exists()


@pytest.mark.parametrize(("role", "source", "option", "env_var"), [
    ("music", "eimg", "--music-source", "IMG2MUSIC_EIMG_SOURCE"),
    ("images", "emotion6", "--image-source", "IMG2MUSIC_EMOTION6_SOURCE"),
])
def test_cli_prepare_offline_names_the_option_and_variable_of_a_local_copy(tmp_path, monkeypatch, capsys,
                                                                          role, source, option, env_var):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.delenv(env_var, raising=False)
    music, images = _folder_sources(tmp_path)
    given = {"music": ["--music", "folder", "--music-source", music],
             "images": ["--images", "folder", "--image-source", images], role: [f"--{role}", source]}
    assert cli.main(["data", "prepare", "--out", str(tmp_path / "out"), *map(str, given["music"]),
                     *map(str, given["images"])]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("img2music: error: cannot download")
    assert err.rstrip().endswith(f"(offline? pass a local copy with {option} PATH or ${env_var})")


def test_prepare_builtin_small(tmp_path):
    data = prepare(music="builtin", images="builtin", out=tmp_path / "prep", n_music=6, n_images=4,
                   n_test=2, n_val=1, seed=SEED)
    assert len(data.pairs) == 6 and len(data.images) == 4
    assert {k: len(v) for k, v in data.split.items()} == {"train": 3, "val": 1, "test": 2}


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("split.json", "[1, 2]", "split.json does not list the music ids of train, val, test"),
    ("split.json", '{"train": [1], "val": [], "test": []}', "split.json does not list the music ids"),
    ("tokens.json", "[1]", "AttributeError"),
    ("manifest.json", "[1]", "manifest.json is not a JSON object"),
    ("music.csv", "id,path,valence,arousal\nm1,x.mid,high,5\n", "could not convert string to float"),
])
def test_a_damaged_prepared_folder_is_one_line_that_says_to_prepare_again(tmp_path, name, content, reason):
    prepare(music="builtin", images="builtin", out=tmp_path / "prep", n_music=6, n_images=4, n_test=2, n_val=1)
    (tmp_path / "prep" / name).write_text(content)
    with pytest.raises(UserError, match=r"prep is damaged \(.*; prepare it again with --force$") as error:
        load_prepared(tmp_path / "prep")
    assert reason in str(error.value)


def test_prepare_over_a_damaged_manifest_needs_force(tmp_path, capsys):
    args = ["data", "prepare", "--music", "builtin", "--images", "builtin", "--out", str(tmp_path / "prep"),
            "--n-music", "6", "--n-images", "4", "--n-test", "2", "--n-val", "1"]
    assert cli.main(args) == 0
    (tmp_path / "prep" / "manifest.json").write_text("[1]")
    capsys.readouterr()
    assert cli.main(args) == 2
    assert capsys.readouterr().err == (f"img2music: error: {tmp_path / 'prep'} is damaged (cannot read its "
                                       "manifest.json: 'list' object has no attribute 'get'); prepare it again "
                                       "with --force\n")
    assert cli.main([*args, "--force"]) == 0
    assert len(load_prepared(tmp_path / "prep").pairs) == 6


@pytest.mark.integration
def test_prepare_on_the_mirrors(tmp_path, eimg_source, emotion6_source):
    data = prepare(music="eimg", images="emotion6", out=tmp_path / "prep", music_source=eimg_source,
                   image_source=emotion6_source, seed=0)
    assert len(data.music) == 3000 and len(data.images) == 1980 and len(data.pairs) == 3000
    assert {k: len(v) for k, v in data.split.items()} == {"train": 2884, "val": 16, "test": 100}
    assert sum("is not 1-9" in line for line in data.summary.splitlines()) == 7


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _interrupted(*args, **kwargs):
    raise KeyboardInterrupt


def test_out_cannot_be_a_sources_own_folder(tmp_path):
    music, images = _folder_sources(tmp_path)
    options = dict(music="folder", images="folder", seed=SEED, n_test=3, n_val=2)
    for out, sources in ((music, dict(music_source=music, image_source=images)),  # the source folder itself
                         (images, dict(music_source=music, image_source=images / "labels.csv"))):  # the CSV's
        before = sorted(p.name for p in out.iterdir())
        with pytest.raises(UserError, match=f"--out {out} is the folder of the .* source"):
            prepare(out=out, **sources, **options)
        assert sorted(p.name for p in out.iterdir()) == before  # nothing written beside the source's files


@pytest.mark.parametrize(("failure", "error"), [(_disk_full, UserError), (_interrupted, KeyboardInterrupt)])
def test_a_failed_prepare_leaves_no_files_and_no_folder(tmp_path, monkeypatch, failure, error):
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", failure)  # va.png: the last file before the manifest
    with pytest.raises(error, match="No space left on device" if error is UserError else None):
        _prepare(tmp_path, tmp_path / "prep")
    assert not (tmp_path / "prep").exists()


def test_an_interrupted_prepare_with_force_keeps_the_old_folder(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    out = tmp_path / "prep"
    _prepare(tmp_path, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(Figure, "savefig", _interrupted)
    with pytest.raises(KeyboardInterrupt):
        _prepare(tmp_path, out, seed=SEED + 1, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # still the complete old folder
    assert load_prepared(out).split  # and it still loads


def test_cli_prepare_disk_full_is_one_line(tmp_path, monkeypatch, capsys):
    from matplotlib.figure import Figure

    music, images = _folder_sources(tmp_path)
    monkeypatch.setattr(Figure, "savefig", _disk_full)
    args = ["data", "prepare", "--music", "folder", "--images", "folder", "--music-source", str(music),
            "--image-source", str(images), "--n-test", "3", "--n-val", "2", "--out", str(tmp_path / "prep")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"img2music: error: cannot write {tmp_path / 'prep' / 'va.png'}: No space left on device"


def test_prepare_authors_pairs_keeps_the_published_tokens_and_spreads_each_song(tmp_path, monkeypatch):
    """`--music authors`: the pairs of a midiData.txt (here: two songs from the EIMG fixture, and one of them
    published with a token changed), linked to EIMG for VA, tokens used as published, songs spread."""
    from img2music_tf.data import authors

    eimg_dir = make_eimg(tmp_path / "eimg")
    monkeypatch.setenv("IMG2MUSIC_EIMG_SOURCE", str(eimg_dir))
    ours = authors.tokenize_eimg(eimg_dir)
    first, second = list(ours["0001"]), list(ours["0003"])
    second[-2] = "C4@0.25"  # not what our tokenizer gives: linked to its closest file, with a warning
    lines = [f"{pair:04d} {' '.join(first if pair % 3 else second)}" for pair in (1, 2, 3, 4, 6, 7, 9)]
    (tmp_path / "midiData.txt").write_text("\n".join(lines))
    data = prepare("authors", "emotion6", tmp_path / "out", music_source=tmp_path / "midiData.txt",
                   image_source=make_emotion6(tmp_path / "e6"), seed=SEED, n_test=2, n_val=1)
    assert data.split["train"] == ["0001", "0002", "0003", "0004", "0006", "0007", "0009"]
    assert len(data.split["test"]) == 2 and len(data.split["val"]) == 1
    assert data.tokens["0003"] == tuple(second) and data.tokens["0001"] == tuple(first)
    music = {item.id: item for item in data.music}
    assert music["0001"].path.name == "0001.mid" and music["0003"].path.name == "0003.mid"
    assert (music["0001"].valence, music["0001"].arousal) == pytest.approx((7.3333, 7.5), abs=1e-3)
    for song_pairs in (["0001", "0002", "0004", "0007"], ["0003", "0006", "0009"]):
        used = [pair.image.id for pair in data.pairs if pair.music.id in song_pairs]
        assert len(set(used)) == min(len(used), 3)  # 6 usable images - 3 held out: distinct while they last
    assert "no exact EIMG match" in data.summary
    assert "tokens as published: 2 distinct songs over the 7 training pairs" in data.summary
    again = load_prepared(tmp_path / "out")
    assert again.tokens == data.tokens
