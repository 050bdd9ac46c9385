"""Output that is complete or absent: written under a temporary name, moved into place at once.

Every writer in hart (videos and box files, exported models, written data sets, evaluation
results and plots) goes through :func:`atomic_output`, so a crash or Ctrl-C never leaves a
half-written file where a complete one is expected.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from hart.errors import InputError


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, *, folder: bool = False, make_parents: bool = False
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block completes.

    The temporary name is hidden (``.STEM.partial-XXXXXXXX.EXT``), on the same file system (so
    the move is one step) and keeps the extension, so writers that choose a format by extension
    still work. If the block raises (Ctrl-C included) the temporary file or folder is removed
    and ``path`` is left as it was.

    Args:
        path: the file (or folder) to write.
        folder: the temporary path is an empty folder, which replaces a folder at ``path``.
        make_parents: create missing parent folders; otherwise a missing parent is an
            :class:`~hart.errors.InputError` (for paths a user typed).
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        check_parent(path)
    temporary = path.parent / f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}"
    if folder:
        temporary.mkdir()
    try:
        yield temporary
        if folder and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # a folder cannot be renamed onto a non-empty one
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise


def check_parent(path: str | os.PathLike) -> None:
    """Raise :class:`~hart.errors.InputError` unless the folder ``path`` would be written in
    exists (a path a user typed: a missing folder is their mistake, not ours to create)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")


def write_text(path: str | os.PathLike, text: str, *, make_parents: bool = False) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_output`."""
    with atomic_output(path, make_parents=make_parents) as temporary:
        temporary.write_text(text)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
