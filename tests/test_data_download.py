"""Fetch with sha256 check and atomic write, local copies, zip extraction of bad archives."""

import zipfile

import pytest

from img2music_tf import files
from img2music_tf.data import download
from img2music_tf.errors import UserError
from img2music_tf.paths import cache_dir


def _remote(path, sha=None, name="thing.bin"):
    return download.Remote(name, path.resolve().as_uri(), sha)


def test_fetch_file_url_verifies_and_then_reuses(tmp_path):
    source = tmp_path / "published.bin"
    source.write_bytes(b"hello data")
    remote = _remote(source, files.sha256(source))
    got = download.fetch(remote, tmp_path / "cache")
    assert got.read_bytes() == b"hello data"
    source.write_bytes(b"changed upstream")  # a verified copy in the cache is not fetched again
    assert download.fetch(remote, tmp_path / "cache").read_bytes() == b"hello data"


def test_fetch_checksum_mismatch_leaves_nothing(tmp_path):
    source = tmp_path / "published.bin"
    source.write_bytes(b"tampered")
    with pytest.raises(UserError, match="checksum mismatch"):
        download.fetch(_remote(source, "0" * 64), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # not even the folder made for it


def test_fetch_unreachable_url_names_the_variable_of_a_local_copy(tmp_path):
    remote = download.Remote("thing.bin", (tmp_path / "nowhere.bin").resolve().as_uri(), None, "IMG2MUSIC_TEST_SOURCE")
    with pytest.raises(UserError, match=r"cannot download .*\(offline\? pass a local copy with \$IMG2MUSIC_TEST_"):
        download.fetch(remote, tmp_path / "cache")
    assert not (tmp_path / "cache" / "thing.bin").exists()
    with pytest.raises(download.DownloadError) as error:
        download.fetch(remote, tmp_path / "cache")
    assert str(error.value.naming("--x-source")).endswith("with --x-source PATH or $IMG2MUSIC_TEST_SOURCE)")


def test_local_copy_with_other_checksum_is_used_with_a_warning(tmp_path):
    (tmp_path / "thing.bin").write_bytes(b"my copy")
    warnings = []
    remote = download.Remote("thing.bin", "https://example.invalid/thing.bin", "0" * 64)
    assert download.find_local(remote, tmp_path, warnings) == tmp_path / "thing.bin"
    assert "sha256 differs" in warnings[0]
    with pytest.raises(UserError, match="not found"):
        download.find_local(download.Remote("other.bin", "x", None), tmp_path, [])


def test_local_or_env(tmp_path, monkeypatch):
    monkeypatch.setenv("IMG2MUSIC_TEST_SOURCE", str(tmp_path))
    assert download.local_or_env(None, "IMG2MUSIC_TEST_SOURCE") == tmp_path
    monkeypatch.delenv("IMG2MUSIC_TEST_SOURCE")
    assert download.local_or_env(None, "IMG2MUSIC_TEST_SOURCE") is None
    with pytest.raises(UserError, match="does not exist"):
        download.local_or_env(tmp_path / "missing", "IMG2MUSIC_TEST_SOURCE")


def test_extract_zip_once(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("inner/x.txt", "x")
    folder = download.extract_zip(archive, "test")
    assert (folder / "inner" / "x.txt").read_text() == "x"
    (folder / "inner" / "x.txt").write_text("kept")
    assert download.extract_zip(archive, "test") == folder
    assert (folder / "inner" / "x.txt").read_text() == "kept"


@pytest.mark.parametrize("damage", ["truncated", "bad_crc", "unsafe"])
def test_extract_bad_zip_is_a_user_error_and_leaves_nothing(tmp_path, damage):
    archive = tmp_path / f"{damage}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as handle:
        handle.writestr("../evil.txt" if damage == "unsafe" else "data.txt", "payload " * 100)
    data = archive.read_bytes()
    if damage == "truncated":
        archive.write_bytes(data[: len(data) // 2])
    elif damage == "bad_crc":
        archive.write_bytes(data.replace(b"payload", b"PAYLOAD", 1))
    before = set((cache_dir() / "extracted").glob("*")) if (cache_dir() / "extracted").exists() else set()
    with pytest.raises(UserError, match="zip archive|unsafe path"):
        download.extract_zip(archive, damage)
    after = set((cache_dir() / "extracted").glob("*"))
    assert after == before
