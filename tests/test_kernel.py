"""Building and loading the glimpse kernel: the cache, rebuilds, machines with no compiler, and
what the kernel does when memory runs out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from hart.model import glimpse, kernel

# The tests that build or run the kernel: where no C compiler is, hart takes the PyTorch path
# (tested by the no-compiler tests below and by test_glimpse_fast's other paths).
needs_compiler = pytest.mark.skipif(
    shutil.which(os.environ.get("CC") or "cc") is None, reason="no C compiler here"
)


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


@needs_compiler
def test_builds_once_into_the_cache(fresh):
    assert kernel.load() is not None
    (built,) = libraries(fresh)
    stamp = (fresh / built).stat().st_mtime_ns
    kernel.load.cache_clear()
    assert kernel.load() is not None  # loaded from the cache, not built again
    assert libraries(fresh) == [built]
    assert (fresh / built).stat().st_mtime_ns == stamp
    assert not [path for path in fresh.iterdir() if path.is_dir()]  # no build left behind


@needs_compiler
def test_a_changed_source_gets_its_own_build(fresh, tmp_path, monkeypatch):
    assert kernel.load() is not None
    edited = tmp_path / "glimpse_kernel.c"
    edited.write_text(kernel.SOURCE.read_text() + "\n/* edited */\n")
    monkeypatch.setattr(kernel, "SOURCE", edited)
    kernel.load.cache_clear()
    assert kernel.load() is not None
    assert len(libraries(fresh)) == 2


@needs_compiler
def test_the_build_is_keyed_on_what_the_compiler_targets(fresh, monkeypatch):
    # -march=native builds for the instruction sets the compiler finds on this CPU; a cache
    # folder shared with a CPU that has others (or another compiler) must not hand over this
    # build. The key holds the compiler's predefined macros under the build's flags.
    target = kernel._target(os.environ.get("CC") or "cc", kernel.FLAGS)
    assert b"#define __STDC_VERSION__" in target
    if os.uname().machine == "x86_64":
        assert b"__SSE2__" in target
    assert kernel.load() is not None
    real = kernel._target
    monkeypatch.setattr(kernel, "_target", lambda *args: real(*args) + b"#define __AVX9__ 1\n")
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


@needs_compiler
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


@needs_compiler
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


@needs_compiler
@pytest.mark.skipif(sys.platform != "linux", reason="address-space limits as Linux sets them")
def test_running_out_of_memory_is_an_error_not_a_crash(tmp_path):
    # A child limits its address space to what it uses plus 1 GiB, then asks the kernel for
    # banks of ~14 GiB (2,000 glimpses of boxes 200,000 px wide): every failed allocation must
    # come back as MemoryError, with nothing written through a null pointer.
    script = textwrap.dedent(
        """
        import resource
        import torch
        from hart.model import glimpse, kernel

        assert kernel.load() is not None
        frames = torch.rand(1, 1, 2, 200_000).expand(2_000, -1, -1, -1)
        boxes = torch.tensor([[0.0, 0.0, 200_000.0, 2.0]]).expand(2_000, -1).clone()
        boxes.requires_grad_()
        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (1 << 30), resource.RLIM_INFINITY))
        try:
            glimpse.gaussian_glimpse(frames, boxes, (56, 56))
        except MemoryError as error:
            print("MemoryError:", error)
        """
    )
    env = {**os.environ, "HART_KERNEL_CACHE": str(kernel._cache_folder())}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MemoryError: the glimpse kernel ran out of memory" in done.stdout
