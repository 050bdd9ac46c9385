"""Output that is complete or absent: written under a temporary name, moved into place at once.

Every writer in hart (videos and box files, exported models, written data sets, evaluation
results and plots) goes through :func:`atomic_output`, so a crash or Ctrl-C never leaves a
half-written file where a complete one is expected.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hart.errors import InputError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block completes.

    Missing parent folders are made first (as ``mkdir -p``; what stops that, a file where a
    folder should be, is an :class:`~hart.errors.InputError` naming it). The temporary name is
    hidden (``.STEM.partial-XXXXXXXX.EXT``), on the same file system (so the move is one step)
    and keeps the extension, so writers that choose a format by extension still work. It is
    created here (an empty file, or an empty folder), so that a folder that cannot be written is
    an :class:`~hart.errors.InputError` naming ``path`` and the reason before any work, whatever
    the writer would have said about it (OpenCV says nothing). If the block raises (Ctrl-C and
    SIGTERM included, see :mod:`hart.cli`) the temporary file or folder is removed and ``path``
    is left as it was (parent folders it made stay).

    Args:
        path: the file (or folder) to write.
        folder: the temporary path is an empty folder, which replaces a folder at ``path``.
    """
    path = Path(path)
    if folder:
        _check_not_around_here(path)
    _make_parents(path)
    _check_not_special(path)
    temporary = path.parent / f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}"
    try:
        if folder:
            temporary.mkdir()
        else:
            temporary.touch(exist_ok=False)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        yield temporary
        if folder and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # a folder cannot be renamed onto a non-empty one
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        if error.filename is None and error.errno in _DISK_FULL:
            # A write through a file object (a text file flushed as it closes) reports a full
            # disk without a file name, and the command's one line would not say where.
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    except BaseException:
        _remove(temporary)
        raise


def output_name(path: str | os.PathLike) -> Path:
    """The name :func:`atomic_output` will move a temporary path onto (any other path as it
    is): what a message about a failed write should name."""
    path = Path(path)
    match = _TEMPORARY.fullmatch(path.name)
    return path.with_name(match["stem"] + match["suffix"]) if match else path


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""What a write says when there is no room: no space, over quota, the file too large."""

_TEMPORARY = re.compile(r"\.(?P<stem>.*)\.partial-[0-9a-f]{8}(?P<suffix>.*)")


def file_in_the_way(folder: str | os.PathLike) -> Path | None:
    """What stops ``folder`` from being a folder or being made one (as ``mkdir -p`` would):
    ``folder`` itself, or the nearest of its parents that exists, when that is not a folder
    (a file, a broken link); None when nothing does."""
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if path.is_dir():
            return None
        if path.exists() or path.is_symlink():
            return path
    return None


def _check_parent_can_be_made(path: Path) -> None:
    blocker = file_in_the_way(path.parent)
    if blocker is not None:
        raise InputError(f"cannot write {path}: {blocker} is a file, not a folder")


def _make_parents(path: Path) -> None:
    """Make the missing folders ``path`` goes into; one :class:`~hart.errors.InputError` line
    when they cannot be made."""
    if path.parent.is_dir():
        return
    _check_parent_can_be_made(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot write {path}: cannot make folder {path.parent}: {error.strerror or error}"
        ) from None


def _check_not_around_here(path: Path) -> None:
    # A folder output replaces the folder of that name, after the work: ".", "" or ".." (or
    # any folder holding the current one) would be emptied, and then could not be replaced.
    here = Path.cwd().resolve()
    target = path.resolve()
    if target == here or target in here.parents:
        raise InputError(
            f"cannot write the folder {str(path) or '.'}: it is the current folder or holds it, "
            "and would be replaced"
        )


def _check_not_special(path: Path) -> None:
    # Moving a file onto a device (/dev/full), a pipe or a socket would replace it with a
    # regular file -- as root, even /dev/null -- instead of writing into it.
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise InputError(f"cannot write {path}: it is a device, pipe or socket, not a file")


def check_parent(path: str | os.PathLike) -> None:
    """Raise :class:`~hart.errors.InputError` unless ``path`` can be written: the folder it goes
    into exists or can be made (nothing but folders on the way, as ``mkdir -p`` needs), and the
    nearest of them that exists may be written. The one rule for every output a command is
    given, checked before the work; :func:`atomic_output` makes the missing folders when it
    writes, so that a run that fails before then leaves none behind."""
    path = Path(path)
    _check_parent_can_be_made(path)
    _check_not_special(path)
    existing = nearest_folder(path.parent)
    if existing is None:  # a relative path, and the current folder was removed
        raise InputError(f"cannot write {path}: no folder above it exists")
    try:
        probe_writable(existing)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}") from None


def nearest_folder(path: str | os.PathLike) -> Path | None:
    """``path`` if it is a folder, else the nearest of its parents that is one (where missing
    folders down to ``path`` would be made); None when none is (a relative path whose current
    folder was removed)."""
    path = Path(path)
    return next((folder for folder in (path, *path.parents) if folder.is_dir()), None)


def probe_writable(folder: str | os.PathLike) -> None:
    """Raise the :class:`OSError` that writing a file in the existing ``folder`` would meet.

    Asked of the folder itself, by creating (and at once removing) a hidden file: permission
    bits do not tell about a read-only file system, or about root, whom they do not bind."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".hart-write-check-"):
        pass


def check_output_file(path: str | os.PathLike) -> None:
    """:func:`check_parent`, and ``path`` is not a folder: the rule for an output that is one
    file (a box file, a model), where a folder of that name would be replaced whole."""
    check_parent(path)
    if Path(path).is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file name")


def check_not_input(output: str | os.PathLike, source: str | os.PathLike) -> None:
    """Raise :class:`~hart.errors.InputError` if writing ``output`` would overwrite ``source``
    (the same path, or another name for the same file)."""
    output, source = Path(output), Path(source)
    same = output.resolve() == source.resolve()
    if not same and output.exists() and source.exists():
        same = os.path.samefile(output, source)
    if same:
        raise InputError(f"{output} is the input; choose another output name")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_output`."""
    with atomic_output(path) as temporary:
        temporary.write_text(text)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
