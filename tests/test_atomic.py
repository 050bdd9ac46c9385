"""hart.atomic: output appears complete or not at all."""

from __future__ import annotations

import errno
import os

import pytest

from hart.atomic import atomic_output, check_not_input, check_parent, write_text
from hart.errors import InputError


def leftovers(folder):
    return sorted(path.name for path in folder.iterdir())


def test_a_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "boxes.txt"
    with atomic_output(target) as temporary:
        temporary.write_text("1,2,3,4\n")
        assert temporary.parent == tmp_path and temporary.name.startswith(".boxes.partial-")
        assert temporary.suffix == ".txt"  # writers that choose a format by it still work
        assert not target.exists()
    assert target.read_text() == "1,2,3,4\n"
    assert leftovers(tmp_path) == ["boxes.txt"]


@pytest.mark.parametrize("folder", [False, True])
@pytest.mark.parametrize("error", [RuntimeError("crash"), KeyboardInterrupt()])
def test_an_error_removes_the_temporary_and_keeps_the_old_output(tmp_path, error, folder):
    target = tmp_path / ("frames" if folder else "boxes.txt")
    if folder:
        target.mkdir()
        (target / "old.png").write_text("previous run")
    else:
        target.write_text("previous run")
    with pytest.raises(type(error)):
        with atomic_output(target, folder=folder) as temporary:
            (temporary / "new.png" if folder else temporary).write_text("half")
            raise error
    assert leftovers(tmp_path) == [target.name]
    kept = target / "old.png" if folder else target
    assert kept.read_text() == "previous run"


def test_a_full_disk_is_an_error_naming_the_output(tmp_path):
    # A text file's write or its flush on closing says "No space left on device" and no more.
    target = tmp_path / "boxes.txt"
    with pytest.raises(OSError) as raised:
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert (raised.value.errno, raised.value.filename) == (errno.ENOSPC, str(target))
    assert leftovers(tmp_path) == []


def test_a_folder_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "sequence"
    target.mkdir()
    (target / "stale.jpg").write_text("from an earlier run")
    with atomic_output(target, folder=True) as temporary:
        assert temporary.is_dir() and leftovers(temporary) == []
        (temporary / "0001.jpg").write_text("new")
    assert leftovers(target) == ["0001.jpg"]
    assert leftovers(tmp_path) == ["sequence"]


@pytest.mark.parametrize("folder", [False, True])
def test_missing_parent_folders_are_made_and_a_file_in_their_way_is_one_line(tmp_path, folder):
    target = tmp_path / "made" / "deep" / ("frames" if folder else "out.txt")
    check_parent(target)  # the check makes nothing: a run that fails after it leaves nothing
    assert leftovers(tmp_path) == []
    with atomic_output(target, folder=folder):
        pass
    assert target.is_dir() if folder else target.is_file()
    (tmp_path / "file").write_text("not a folder")
    for blocked in (tmp_path / "file" / "out.txt", tmp_path / "file" / "deeper" / "out.txt"):
        message = rf"^cannot write {blocked}: {tmp_path / 'file'} is a file, not a folder$"
        with pytest.raises(InputError, match=message):
            check_parent(blocked)
        with pytest.raises(InputError, match=message):
            with atomic_output(blocked, folder=folder):
                pass
    assert leftovers(tmp_path) == ["file", "made"]


def test_parent_folders_that_cannot_be_made_are_one_line(unwritable_folder):
    target = unwritable_folder / "new" / "out.txt"
    with pytest.raises(InputError, match=rf"^cannot write {target}: "):
        check_parent(target)
    with pytest.raises(InputError, match=rf"^cannot write {target}: cannot make folder "):
        write_text(target, "ok\n")


@pytest.mark.parametrize("folder", [False, True])
def test_a_folder_that_refuses_writing_is_an_input_error_before_any_work(unwritable_folder, folder):
    target = unwritable_folder / ("frames" if folder else "boxes.txt")
    with pytest.raises(InputError, match=rf"cannot write {target}: \w"):
        with atomic_output(target, folder=folder):
            raise AssertionError("the block must not run")
    assert not target.exists()


def test_an_output_that_is_the_input_is_refused(tmp_path):
    source = tmp_path / "model.ckpt"
    source.write_text("weights")
    (tmp_path / "link.ckpt").symlink_to(source)
    for output in (source, tmp_path / "." / "model.ckpt", tmp_path / "link.ckpt"):
        with pytest.raises(InputError, match="is the input"):
            check_not_input(output, source)
    check_not_input(tmp_path / "other.ckpt", source)


@pytest.mark.parametrize("name", [".", "", "..", "../.."])
def test_a_folder_output_is_never_the_current_folder_or_one_holding_it(tmp_path, monkeypatch, name):
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    (here / "keep.txt").write_text("mine")
    monkeypatch.chdir(here)
    with pytest.raises(InputError, match="it is the current folder or holds it"):
        with atomic_output(name, folder=True):
            raise AssertionError("no work may start")
    assert (here / "keep.txt").read_text() == "mine"
