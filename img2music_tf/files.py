"""File helpers shared by every module that reads inputs or writes outputs: atomic writes, checksums.

Every output is written to a temporary file beside its target and renamed into
place, so an interrupted run never leaves a half-written file; a set of files
that belong together is staged in a hidden folder and moved into place at the
end (`staged_files`). A failed command removes the folders it created while
they are still empty (`output_dir`). A full disk, and a file standing where a
folder should be, are UserErrors naming the output.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

from img2music_tf import interrupts
from img2music_tf.errors import UserError

DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
"""Errors of the disk, not of the program, while an output is written: a UserError naming the output."""


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create `path` (and parents) or raise a UserError that says why it cannot be written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UserError(f"cannot write to output folder {path}: {_reason(path, error)}") from None
    return path


def check_writable_dir(path: str | os.PathLike) -> Path:
    """What `ensure_writable_dir` checks, leaving nothing: the folders made for the check are removed at once.
    For a command that writes its outputs only at its end, so that a kill before then (even kill -9) leaves
    no folder behind."""
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    try:
        return ensure_writable_dir(path)
    finally:
        _remove_empty(created)


@contextlib.contextmanager
def output_dir(path: str | os.PathLike) -> Iterator[Path]:
    """`ensure_writable_dir(path)` for a command's block; if the block fails (Ctrl-C included), the folders
    created here are removed again while they are empty."""
    path = Path(path)
    with _removed_if_failed(path):
        with _locked(ensure_writable_dir(path)) as folder:
            yield folder


LOCK_FILE = ".img2music.lock"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[Path]:
    """Hold an exclusive lock on `folder` for the block (a hidden file, removed after it): a second command
    writing into the same folder at once is refused in one line instead of mixing its files with the first's.
    The lock is the kernel's (flock), so it dies with its process and a killed command leaves none held."""
    lock = folder / LOCK_FILE
    handle = open(lock, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"another img2music command is writing into {folder}: wait for it to end, or choose "
                        "another output folder") from None
    try:
        yield folder
    finally:
        lock.unlink(missing_ok=True)
        handle.close()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only on success.

    On any failure (Ctrl-C included) the temporary file, and the folders made for it, are removed; a folder
    that cannot be made, a `target` that is a folder and a full disk (`DISK_ERRORS`) are UserErrors naming
    `target`.
    """
    target = Path(target)
    if target.is_dir():
        raise UserError(f"cannot write {target}: it is a folder; name a file to write instead")
    with _removed_if_failed(target.parent):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as error:
            raise UserError(f"cannot write {target}: {_reason(target, error)}") from None
        tmp = Path(name)
        try:
            os.close(fd)
            yield tmp
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
            os.replace(tmp, target)
        except OSError as error:
            if error.errno not in DISK_ERRORS:
                raise
            raise UserError(f"cannot write {target}: {os.strerror(error.errno)}") from None
        finally:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_files(folder: str | os.PathLike, last: str) -> Iterator[Path]:
    """Yield an empty hidden folder inside `folder` for a set of files that belong together.

    When the block succeeds, its files are moved into `folder`, `last` after all the others (a `last` already
    there is removed first), so `last` marks a complete set. When the block fails, `folder` is left as it was;
    when moving fails, none of the set's names is left in it. The hidden folder is always removed, and
    UserErrors name `folder` in its place.
    """
    folder = Path(folder)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staged-", suffix=".tmp"))
    try:
        try:
            yield staging
        except UserError as error:  # name the outputs where they were going, not the hidden folder (same type)
            error.args = (str(error).replace(str(staging), str(folder)),)
            raise
        except OSError as error:
            if error.errno not in DISK_ERRORS:
                raise
            raise UserError(f"cannot write into {folder}: {os.strerror(error.errno)}") from None
        interrupts.check()  # a signal swallowed in a callback during the block cancels the set, never half of it
        names = sorted((p.name for p in staging.iterdir()), key=lambda name: (name == last, name))
        try:
            (folder / last).unlink(missing_ok=True)
            for name in names:
                os.replace(staging / name, folder / name)
        except BaseException as error:
            for name in names:
                with contextlib.suppress(OSError):
                    (folder / name).unlink(missing_ok=True)
            if isinstance(error, OSError):
                raise UserError(f"cannot write into {folder}: {_reason(folder, error)}") from None
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_replaceable(target: str | os.PathLike, marker: str | None = None) -> Path:
    """UserError unless `replaced_folder(target, marker)` may replace `target` (see there); a command checks
    this before its work."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise UserError(f"cannot write {target}: it is a file, not a folder")
    if marker is not None and target.is_dir() and any(target.iterdir()) and not any(target.glob(marker)):
        raise UserError(f"{target} holds other files (no {marker}), which writing it would delete: "
                        "name a new or empty folder, or remove it first")
    return target


@contextlib.contextmanager
def made_folders_removed_if_failed(folder: str | os.PathLike) -> Iterator[None]:
    """If the block fails, remove `folder` with all it holds, and its parents, as far as the block made them:
    a folder that existed before the block is left as it was (the folders the block made inside it go)."""
    made = [p for p in (Path(folder), *Path(folder).parents) if not p.exists()]  # deepest first
    try:
        yield
    except BaseException:
        if made:
            shutil.rmtree(made[-1], ignore_errors=True)
        raise


@contextlib.contextmanager
def replaced_folder(target: str | os.PathLike, marker: str | None = None) -> Iterator[Path]:
    """Yield an empty hidden folder beside `target` to fill; on success it replaces `target` (and all it held)
    at once, so `target` is always either the old folder or the complete new one. On failure it is removed.

    A `target` that is a file is a UserError, and so, with `marker` (a glob pattern such as the name of a file
    the output always holds), is a non-empty folder holding nothing that matches it: a folder given by mistake
    is never deleted.
    """
    target = check_replaceable(target, marker)
    with _removed_if_failed(target.parent):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        except OSError as error:
            raise UserError(f"cannot write {target}: {_reason(target, error)}") from None
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; give the folder normal permissions
        old = staging.with_suffix(".old")
        try:
            try:
                yield staging
            except UserError as error:  # name the outputs where they were going, not the hidden folder
                raise UserError(str(error).replace(str(staging), str(target))) from None
            if target.exists():
                os.replace(target, old)
            try:
                os.replace(staging, target)
            except BaseException:
                if old.exists():  # put the old folder back
                    os.replace(old, target)
                raise
        except OSError as error:
            if error.errno not in DISK_ERRORS:
                raise
            raise UserError(f"cannot write {target}: {os.strerror(error.errno)}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _removed_if_failed(folder: Path) -> Iterator[None]:
    """If the block fails, remove `folder` and those of its parents that did not exist before it, while empty."""
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        yield
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders `created` (deepest first) while they are empty."""
    for path in created:
        try:
            path.rmdir()
        except FileNotFoundError:  # never made
            continue
        except OSError:  # not empty: neither are its parents
            break


def _reason(path: Path, error: OSError) -> str:
    """Why `path` cannot be written, in words: names a file that stands where a folder should be."""
    blocker = next((p for p in (path, *path.parents) if p.is_file()), None)
    if blocker is not None and isinstance(error, (FileExistsError, NotADirectoryError)):
        return f"{blocker} is a file, not a folder"
    return error.strerror or str(error)


def check_input_file(path: str | os.PathLike, kind: str) -> Path:
    """`path` as a Path, or a UserError saying that it is missing or a folder; `kind` names it ("image", "MIDI")."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not {'an' if kind[0] in 'aeiou' else 'a'} {kind} file")
    if not path.is_file():
        raise UserError(f"{kind} not found: {path}")
    return path


def check_zip(path: str | os.PathLike) -> None:
    """UserError unless `path` is a complete zip archive (a `.keras` model is one): catches a truncated copy."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        problem = None if bad is None else f"its part {bad} fails its checksum"
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        problem = str(error)
    if problem is not None:
        raise UserError(f"{path} is damaged or incomplete ({problem}): copy or write it again")


def load_keras_model(path: str | os.PathLike):
    """`keras.saving.load_model(path, compile=False)` after `check_zip`; a complete zip that is not the model
    expected (another file renamed, another model's archive) is a UserError too."""
    import keras

    check_zip(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError, KeyError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0].split(". ")[0].rstrip(".")[:200]
        raise UserError(f"cannot load the model {path} ({reason}): copy it or train it again") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write `text` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike, obj) -> Path:
    """Write `obj` as indented, key-sorted JSON atomically."""
    return write_text(target, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
