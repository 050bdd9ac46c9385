"""The compiled core of the fast Gaussian glimpse: build ``glimpse_kernel.c`` once, load it.

The kernel is a small C file with no dependency beyond the C library (and OpenMP where the
compiler has it). It is compiled the first time a glimpse needs it, with the machine's C compiler
(``$CC``, else ``cc``), into a cache folder (``$HART_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/hart/kernels`` or ``~/.cache/hart/kernels``) under a name that hashes the
source, the flags and the CPU, so a changed file or another machine gets its own build. A build
is written under a temporary name and renamed when complete, so concurrent processes (DDP,
data workers) never load half a library.

Where no compiler works, :func:`load` returns ``None`` and says why once (a warning); the
glimpse then runs the same computation in PyTorch operations, several times slower.
``HART_KERNEL=off`` asks for that path on purpose.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("glimpse_kernel.c")

# -march=native: the build is for this CPU only (the CPU is part of the cache key).
# -ffp-contract=fast: fused multiply-adds, which ISO C mode would otherwise forbid.
FLAGS = ("-O3", "-march=native", "-fPIC", "-std=c11", "-ffp-contract=fast")
OPENMP = ("-fopenmp",)
NO_OPENMP = ("-fopenmp-simd",)  # compilers without OpenMP (Apple's clang) still vectorise
# glibc's vector erf and exp (libmvec) on x86-64: the filter banks 8-16 values at a time.
LIBMVEC = ("-DHART_LIBMVEC", "-lmvec")


def _variants() -> list[tuple[str, ...]]:
    """The flags to try, fastest first; the first that builds is used."""
    variants = [FLAGS + OPENMP, FLAGS + NO_OPENMP]
    if platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc":
        variants.insert(0, FLAGS + OPENMP + LIBMVEC)
    return variants


class Kernel:
    """The loaded library's ``glimpse_forward`` and ``glimpse_backward`` for float32 and
    float64 frames; glimpse_kernel.c says what they compute.

    ``forward(dtype)(batch, channels, frames, filters, n_x, n_y, truncate, glimpses, products,
    threads)`` takes the addresses of contiguous tensors: per sample a ``Frame`` (int64
    ``address, height, width, stride_c, stride_y, stride_x``) and ``Filters`` (float64
    ``first_x, stride_x, sigma_x, first_y, stride_y, sigma_y, gain``); it returns 0, or -1
    if it ran out of memory. ``backward(dtype)(batch, channels, n_x, n_y, products,
    grad_glimpses, grad_filters, threads)`` writes the filters' gradients (float64).
    """

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library
        pointer, integer = ctypes.c_void_p, ctypes.c_int64
        for suffix in ("f32", "f64"):
            function = getattr(library, f"glimpse_forward_{suffix}")
            function.argtypes = [integer, integer, pointer, pointer, integer, integer]
            function.argtypes += [ctypes.c_double, pointer, pointer, ctypes.c_int]
            function.restype = ctypes.c_int
            function = getattr(library, f"glimpse_backward_{suffix}")
            function.argtypes = [integer] * 4 + [pointer] * 3 + [ctypes.c_int]

    def forward(self, dtype: torch.dtype):
        return self._function("forward", dtype)

    def backward(self, dtype: torch.dtype):
        return self._function("backward", dtype)

    def _function(self, name: str, dtype: torch.dtype):
        suffix = {torch.float32: "f32", torch.float64: "f64"}[dtype]
        return getattr(self.library, f"glimpse_{name}_{suffix}")


def _cache_folder() -> Path:
    if folder := os.environ.get("HART_KERNEL_CACHE"):
        return Path(folder)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hart" / "kernels"


def _cpu() -> str:
    """What identifies this CPU's instruction set, for the cache key."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine() + platform.processor()
    lines = [line for line in info.splitlines() if line.startswith(("model name", "flags"))]
    return platform.machine() + "\n".join(sorted(set(lines)))


def _compile(compiler: str, flags: tuple[str, ...], target: Path) -> str | None:
    """Build the library at ``target``; return the compiler's complaint, or None."""
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        objects = []
        compile_flags = [flag for flag in flags if not flag.startswith("-l")]
        for real, suffix in (("float", "f32"), ("double", "f64")):
            obj = Path(scratch) / f"{suffix}.o"
            defines = [f"-DREAL={real}", f"-DNAME(f)=f##_{suffix}"]
            command = [compiler, *compile_flags, *defines, "-c", str(SOURCE), "-o", str(obj)]
            if complaint := _run(command):
                return complaint
            objects.append(str(obj))
        partial = Path(scratch) / target.name
        if complaint := _run([compiler, *flags, "-shared", *objects, "-lm", "-o", str(partial)]):
            return complaint
        os.replace(partial, target)
    return None


def _run(command: list[str]) -> str | None:
    """Run a compiler command; its last line of complaint if it fails, else None."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


@functools.cache
def load() -> Kernel | None:
    """The kernel, built if needed; ``None`` (with one warning) where it cannot be."""
    if os.environ.get("HART_KERNEL", "").lower() in ("0", "off", "no", "false"):
        return None
    compiler = os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        return _unavailable(f"no C compiler ({compiler!r} not found)")
    source = SOURCE.read_bytes()
    complaints = []
    for flags in _variants():
        key = hashlib.sha256(b"\0".join([source, " ".join(flags).encode(), _cpu().encode()]))
        target = _cache_folder() / f"glimpse-{key.hexdigest()[:20]}.so"
        if not target.exists():
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                complaint = _compile(compiler, flags, target)
            except OSError as error:
                complaint = str(error)
            if complaint:
                complaints.append(complaint)
                continue
        try:
            return Kernel(ctypes.CDLL(str(target)))
        except OSError as error:
            complaints.append(str(error))
    return _unavailable(f"{compiler} could not build it: {complaints[-1]}")


def _unavailable(reason: str) -> None:
    warnings.warn(
        f"hart: the compiled glimpse kernel is unavailable ({reason}); Gaussian glimpses run "
        "in PyTorch operations, several times slower",
        RuntimeWarning,
        stacklevel=3,
    )
    return None
