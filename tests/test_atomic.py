"""hart.atomic: output appears complete or not at all."""

from __future__ import annotations

import errno
import os

import pytest

from hart.atomic import atomic_output, check_not_input, write_text
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


def test_a_missing_parent_is_an_input_error_unless_asked_to_make_it(tmp_path):
    with pytest.raises(InputError, match=r"folder .*nowhere does not exist"):
        with atomic_output(tmp_path / "nowhere" / "out.txt"):
            pass
    assert leftovers(tmp_path) == []
    write_text(tmp_path / "made" / "deep" / "out.txt", "ok\n", make_parents=True)
    assert (tmp_path / "made" / "deep" / "out.txt").read_text() == "ok\n"


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
