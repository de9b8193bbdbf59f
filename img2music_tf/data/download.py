"""Fetch, verify and extract source files: one helper for every downloader.

A file is downloaded with urllib into a temporary file, its sha256 checked, and
only then renamed into the cache, so a failed or tampered download leaves
nothing behind. A local copy (a command's option, or the source's environment
variable) replaces the download; a local copy whose sha256 differs from the
published one is used with a warning. Zip archives are extracted once, keyed by their checksum.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from img2music_tf import files
from img2music_tf.errors import UserError
from img2music_tf.paths import cache_dir


@dataclass(frozen=True)
class Remote:
    """A published file: its name, where to download it, its sha256 (None when not pinned), and the
    environment variable that names a local copy instead."""

    name: str
    url: str
    sha256: str | None
    env_var: str | None = None


class DownloadError(UserError):
    """A download that failed or did not match its checksum; the message says how to use a local copy."""

    def __init__(self, problem: str, advice: str, env_var: str | None, option: str | None = None):
        self.problem, self.advice, self.env_var = problem, advice, env_var
        ways = " or ".join(way for way in (option and f"{option} PATH", env_var and f"${env_var}") if way)
        super().__init__(f"{problem} ({advice} pass a local copy{' with ' + ways if ways else ''})")

    def naming(self, option: str) -> DownloadError:
        """The same error, naming the command's option that takes a local copy."""
        return DownloadError(self.problem, self.advice, self.env_var, option)


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def fetch(remote: Remote, dest_dir: Path | None = None, timeout: float = 60.0) -> Path:
    """Download `remote` into `dest_dir` (default: the cache) unless a verified copy is there."""
    target = Path(dest_dir or downloads_dir()) / remote.name
    if target.exists() and (remote.sha256 is None or files.sha256(target) == remote.sha256):
        return target
    try:
        with files.atomic_path(target) as tmp:
            with urllib.request.urlopen(remote.url, timeout=timeout) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
            got = files.sha256(tmp)
            if remote.sha256 is not None and got != remote.sha256:
                raise DownloadError(
                    f"checksum mismatch for {remote.name} from {remote.url}: expected sha256 "
                    f"{remote.sha256}, got {got}", "download again, or", remote.env_var,
                )
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
        raise DownloadError(f"cannot download {remote.name} from {remote.url}: {reason}", "offline?",
                            remote.env_var) from None
    return target


def local_or_env(source: str | os.PathLike | None, env_var: str) -> Path | None:
    """The local copy to use: `source`, else the environment variable `env_var`, else None (download)."""
    origin = ""
    if source is None:
        source, origin = os.environ.get(env_var) or None, f" (from ${env_var})"
    if source is None:
        return None
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"data source {path}{origin} does not exist")
    return path


def find_local(remote: Remote, source: Path, warnings: list[str]) -> Path:
    """`source` itself (a file) or `source/<remote.name>` (a folder); notes a checksum difference in `warnings`."""
    path = source / remote.name if source.is_dir() else source
    if not path.is_file():
        raise UserError(f"{remote.name} not found in {source}")
    if remote.sha256 is not None and files.sha256(path) != remote.sha256:
        warnings.append(f"{path} is not the published {remote.name} (sha256 differs); using it as given")
    return path


def extract_zip(zip_path: Path, name: str) -> Path:
    """Extract `zip_path` once into the cache (keyed by its sha256) and return that folder."""
    target = cache_dir() / "extracted" / f"{name}-{files.sha256(zip_path)[:16]}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.namelist():
                parts = PurePosixPath(member).parts
                if member.startswith("/") or ".." in parts:
                    raise UserError(f"{zip_path} holds an unsafe path {member!r}; refusing to extract it")
            archive.extractall(tmp)
        os.replace(tmp, target)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as error:
        raise UserError(f"{zip_path} is not a complete zip archive ({error}); download it again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
