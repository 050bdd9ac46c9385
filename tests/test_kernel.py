"""Building and loading the glimpse kernel: the cache, rebuilds, and machines with no compiler."""

from __future__ import annotations

import warnings

import pytest
import torch

from hart.model import glimpse, kernel


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty kernel cache and no library loaded yet in this process."""
    monkeypatch.setenv("HART_KERNEL_CACHE", str(tmp_path / "kernels"))
    monkeypatch.delenv("HART_KERNEL", raising=False)
    kernel.load.cache_clear()
    yield tmp_path / "kernels"
    kernel.load.cache_clear()


def libraries(folder):
    return sorted(path.name for path in folder.glob("*.so"))


def test_builds_once_into_the_cache(fresh):
    assert kernel.load() is not None
    (built,) = libraries(fresh)
    stamp = (fresh / built).stat().st_mtime_ns
    kernel.load.cache_clear()
    assert kernel.load() is not None  # loaded from the cache, not built again
    assert libraries(fresh) == [built]
    assert (fresh / built).stat().st_mtime_ns == stamp
    assert not [path for path in fresh.iterdir() if path.is_dir()]  # no build left behind


def test_a_changed_source_gets_its_own_build(fresh, tmp_path, monkeypatch):
    assert kernel.load() is not None
    edited = tmp_path / "glimpse_kernel.c"
    edited.write_text(kernel.SOURCE.read_text() + "\n/* edited */\n")
    monkeypatch.setattr(kernel, "SOURCE", edited)
    kernel.load.cache_clear()
    assert kernel.load() is not None
    assert len(libraries(fresh)) == 2


def test_no_compiler_falls_back_to_pytorch(fresh, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler")
    with pytest.warns(RuntimeWarning, match="no C compiler .*several times slower"):
        assert kernel.load() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not on every glimpse
        images = torch.rand(2, 3, 40, 50)
        boxes = torch.tensor([[3.0, 4.0, 20.0, 30.0], [-5.0, 10.0, 60.0, 20.0]])
        torch.testing.assert_close(
            glimpse.gaussian_glimpse(images, boxes, (8, 8)),
            glimpse.gaussian_glimpse_dense(images, boxes, (8, 8)),
            atol=1e-5,
            rtol=0,
        )
    assert libraries(fresh) == []


def test_a_failing_compiler_is_reported(fresh, tmp_path, monkeypatch):
    compiler = tmp_path / "cc"
    compiler.write_text("#!/bin/sh\necho 'cc: error: something is missing' >&2\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    with pytest.warns(RuntimeWarning, match="could not build it: cc: error: something is missing"):
        assert kernel.load() is None
    assert libraries(fresh) == []


def test_switched_off(fresh, monkeypatch):
    monkeypatch.setenv("HART_KERNEL", "off")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernel.load() is None
    assert not fresh.exists() or libraries(fresh) == []


def test_threads_match_one_thread():
    # The kernel splits samples and channels over OpenMP threads; the result must not depend
    # on how many.
    images = torch.rand(6, 3, 120, 200)
    boxes = torch.tensor([[10.0, 5.0, 150.0, 100.0]] * 6) + torch.arange(6.0)[:, None]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = glimpse.gaussian_glimpse(images, boxes, (56, 56))
        torch.set_num_threads(2)
        two = glimpse.gaussian_glimpse(images, boxes, (56, 56))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


def _glimpse_in_child(queue):
    # As in a DataLoader worker: PyTorch's own OpenMP is down to one thread after a fork (its
    # threads are gone too), while the kernel is asked for two.
    torch.set_num_threads(1)
    torch.get_num_threads = lambda: 2
    images = torch.rand(4, 3, 120, 200)
    boxes = torch.tensor([[10.0, 5.0, 150.0, 100.0]] * 4)
    queue.put(float(glimpse.gaussian_glimpse(images, boxes, (56, 56)).sum()))


def test_a_forked_child_can_read_glimpses():
    # OpenMP's threads do not survive fork(): a child of a process whose kernel used them must
    # still read glimpses, serially, instead of waiting for them forever.
    import multiprocessing

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        images, boxes = torch.rand(4, 3, 120, 200), torch.tensor([[1.0, 2, 90, 60]] * 4)
        glimpse.gaussian_glimpse(images, boxes, (56, 56))
    finally:
        torch.set_num_threads(threads)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_glimpse_in_child, args=(queue,))
    child.start()
    child.join(timeout=30)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in the glimpse kernel")
    assert child.exitcode == 0
    assert queue.get(timeout=5) > 0
