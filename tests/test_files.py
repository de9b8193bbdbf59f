"""Atomic writes, staged sets of files, output folders and input checks: nothing half-written, one-line errors."""

from __future__ import annotations

import errno
import zipfile

import pytest

from img2music_tf import files
from img2music_tf.errors import UserError


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_atomic_path_leaves_nothing_on_any_failure(tmp_path, failure):
    target = tmp_path / "new" / "deeper" / "out.txt"
    with pytest.raises(failure):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise failure()
    assert list(tmp_path.iterdir()) == []  # no .tmp file, and the folders made for it are gone again


def test_atomic_path_disk_full_is_one_line_naming_the_output(tmp_path):
    (tmp_path / "old.txt").write_text("old")
    with pytest.raises(UserError, match=r"cannot write .*old.txt: No space left on device") as error:
        with files.atomic_path(tmp_path / "old.txt") as tmp:
            _disk_full(tmp)
    assert "\n" not in str(error.value)
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"] and (tmp_path / "old.txt").read_text() == "old"


def test_atomic_path_other_errors_keep_their_type(tmp_path):
    with pytest.raises(FileNotFoundError):
        with files.atomic_path(tmp_path / "out.txt"):
            (tmp_path / "absent.txt").read_text()


def test_atomic_path_onto_a_folder_is_one_line_and_leaves_the_folder_alone(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "inside.txt").write_text("keep")
    with pytest.raises(UserError, match=r"cannot write .*taken: it is a folder; name a file"):
        files.write_text(tmp_path / "taken", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no .tmp file left beside it
    assert (tmp_path / "taken" / "inside.txt").read_text() == "keep"


def test_output_under_a_regular_file_names_the_file(tmp_path):
    (tmp_path / "somefile.txt").write_text("x")
    with pytest.raises(UserError, match="somefile.txt is a file, not a folder"):
        files.write_text(tmp_path / "somefile.txt" / "x.npy", "y")
    with pytest.raises(UserError, match="cannot write to output folder .*somefile.txt is a file"):
        files.ensure_writable_dir(tmp_path / "somefile.txt" / "out")


def test_output_dir_removes_the_folders_it_made_when_the_block_fails(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with files.output_dir(tmp_path / "a" / "b"):
            raise KeyboardInterrupt
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(UserError):
        with files.output_dir(tmp_path / "kept" / "new") as out:
            raise UserError("bad input")
    assert (tmp_path / "kept").is_dir() and not out.exists()  # the folder that was there stays
    with pytest.raises(RuntimeError):
        with files.output_dir(tmp_path / "written") as out:
            (out / "result.txt").write_text("done")
            raise RuntimeError
    assert (tmp_path / "written" / "result.txt").is_file()  # a folder with outputs in it is not removed


def test_staged_files_move_into_place_with_the_last_one_last(tmp_path, monkeypatch):
    (tmp_path / "mark").write_text("old mark")
    (tmp_path / "other.txt").write_text("not ours")
    moved = []
    real_replace = files.os.replace

    def recording_replace(source, destination):
        moved.append(files.Path(destination).name)
        real_replace(source, destination)

    monkeypatch.setattr(files.os, "replace", recording_replace)
    with files.staged_files(tmp_path, last="mark") as staging:
        for name in ("mark", "b.txt", "a.txt"):
            (staging / name).write_text(name)
    assert moved == ["a.txt", "b.txt", "mark"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "mark", "other.txt"]
    assert (tmp_path / "mark").read_text() == "mark"


def test_staged_files_leave_the_folder_as_it_was_on_failure(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with files.staged_files(tmp_path, last="mark") as staging:
            (staging / "a.txt").write_text("new")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old"


def test_staged_files_failing_to_move_leave_none_of_the_set(tmp_path, monkeypatch):
    real_replace = files.os.replace

    def full_at_the_second(source, destination):
        if files.Path(destination).name == "b.txt":
            _disk_full()
        real_replace(source, destination)

    monkeypatch.setattr(files.os, "replace", full_at_the_second)
    with pytest.raises(UserError, match="No space left"):
        with files.staged_files(tmp_path, last="mark") as staging:
            for name in ("a.txt", "b.txt", "mark"):
                (staging / name).write_text(name)
    assert list(tmp_path.iterdir()) == []


def test_check_input_file_says_missing_or_folder(tmp_path):
    with pytest.raises(UserError, match=r"^image not found: .*nope.png$"):
        files.check_input_file(tmp_path / "nope.png", "image")
    with pytest.raises(UserError, match=r"is a folder, not an image file"):
        files.check_input_file(tmp_path, "image")
    with pytest.raises(UserError, match=r"is a folder, not a MIDI file"):
        files.check_input_file(tmp_path, "MIDI")


def test_check_zip_catches_truncated_and_foreign_files(tmp_path):
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("config.json", "{}" * 1000)
    files.check_zip(archive)
    data = archive.read_bytes()
    (tmp_path / "half.keras").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.keras").write_text("not a zip")
    for name in ("half.keras", "text.keras"):
        with pytest.raises(UserError, match=f"{name} is damaged or incomplete"):
            files.check_zip(tmp_path / name)


def test_replaced_folder_swaps_the_whole_folder_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "pack"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with files.replaced_folder(target) as staging:
            (staging / "new.txt").write_text("new")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["pack"] and [p.name for p in target.iterdir()] == ["old.txt"]
    real_replace = files.os.replace

    def full_when_moving_in(source, destination):
        if files.Path(destination) == target and files.Path(source).suffix == ".tmp":
            _disk_full()
        real_replace(source, destination)

    monkeypatch.setattr(files.os, "replace", full_when_moving_in)
    with pytest.raises(UserError, match=f"cannot write {target}: No space left"):
        with files.replaced_folder(target) as staging:
            (staging / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["pack"] and [p.name for p in target.iterdir()] == ["old.txt"]
    monkeypatch.setattr(files.os, "replace", real_replace)
    with files.replaced_folder(target) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["pack"] and [p.name for p in target.iterdir()] == ["new.txt"]


def test_replaced_folder_never_replaces_a_file_or_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=r"cannot write .*notes.txt: it is a file, not a folder"):
        with files.replaced_folder(tmp_path / "notes.txt"):
            pytest.fail("the block ran")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("mine")
    with pytest.raises(UserError, match=r"home holds other files \(no queue.json\), which writing it would delete"):
        with files.replaced_folder(tmp_path / "home", marker="queue.json"):
            pytest.fail("the block ran")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "notes.txt"]  # nothing hidden left beside them
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "home" / "thesis.tex").read_text() == "mine"
    (tmp_path / "home" / "queue.json").write_text("{}")  # an earlier output, and an empty folder, are replaced
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "home", tmp_path / "empty"):
        with files.replaced_folder(target, marker="queue.json") as staging:
            (staging / "queue.json").write_text("new")
        assert [p.name for p in target.iterdir()] == ["queue.json"]
