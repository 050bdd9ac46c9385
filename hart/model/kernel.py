"""The CPU fast path of the Gaussian glimpse: build ``glimpse_kernel.c`` once, load it, call it.

The kernel is a small C file with no dependency beyond the C library (and OpenMP where the
compiler has it). It is compiled the first time a glimpse needs it, with the machine's C compiler
(``$CC``, else ``cc``), into a cache folder (``$HART_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/hart/kernels`` or ``~/.cache/hart/kernels``) under a name that hashes the
source, the flags and what the compiler makes of them on this machine: its predefined macros
under those flags, which name the instruction sets ``-march=native`` found (``__AVX2__``,
``__AVX512F__`` …) and the compiler's version. A changed file, another compiler or a CPU with
other features (a cache folder shared by machines, a virtual machine moved to another host)
gets its own build. A build is written under a temporary name and renamed when complete, so
concurrent processes (DDP, data workers) never load half a library.

Where no compiler works, :func:`load` returns ``None`` and says why once (a warning); the
glimpse then runs the same computation in PyTorch operations (:mod:`hart.model.batched_glimpse`),
several times slower. ``HART_KERNEL=off`` asks for that path on purpose.
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

from hart.model.filterbanks import TRUNCATE_SIGMAS, filter_reach

SOURCE = Path(__file__).with_name("glimpse_kernel.c")

# -march=native: the build is for this CPU only (its features are part of the cache key).
# -ffp-contract=fast: fused multiply-adds, which ISO C mode would otherwise forbid.
FLAGS = ("-O3", "-march=native", "-fPIC", "-std=c11", "-ffp-contract=fast")
OPENMP = ("-fopenmp",)
NO_OPENMP = ("-fopenmp-simd",)  # compilers without OpenMP (Apple's clang) still vectorise
# glibc's vector erf and exp (libmvec) on x86-64: the filter banks 8-16 values at a time.
LIBMVEC = ("-DHART_LIBMVEC", "-lmvec")

# The frame dtypes the kernel reads, and the suffix of their functions in the library. Its
# arithmetic is float32 for float32 and bfloat16 frames, float64 for float64 ones.
SUFFIXES = {torch.float32: "f32", torch.float64: "f64", torch.bfloat16: "bf16"}
BUILDS = (  # suffix, C type of the arithmetic, extra defines
    ("f32", "float", ()),
    ("f64", "double", ()),
    ("bf16", "float", ("-DPIXEL_BF16",)),
)


def _variants() -> list[tuple[str, ...]]:
    """The flags to try, fastest first; the first that builds is used."""
    variants = [FLAGS + OPENMP, FLAGS + NO_OPENMP]
    if platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc":
        variants.insert(0, FLAGS + OPENMP + LIBMVEC)
    return variants


class Kernel:
    """The loaded library's ``glimpse_forward`` and ``glimpse_backward`` per frame dtype;
    glimpse_kernel.c says what they compute.

    ``forward(dtype)(batch, channels, frames, filters, n_x, n_y, truncate, glimpses, products,
    threads)`` takes the addresses of contiguous tensors: per sample a ``Frame`` (int64
    ``address, height, width, stride_c, stride_y, stride_x``) and ``Filters`` (float64
    ``first_x, stride_x, sigma_x, first_y, stride_y, sigma_y``); it returns 0, or -1 if it ran
    out of memory. ``backward(dtype)(batch, channels, n_x, n_y, products, grad_glimpses,
    grad_filters, threads)`` writes the filters' gradients (float64).
    """

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library
        pointer, integer = ctypes.c_void_p, ctypes.c_int64
        for suffix in SUFFIXES.values():
            function = getattr(library, f"glimpse_forward_{suffix}")
            function.argtypes = [integer, integer, pointer, pointer, integer, integer]
            function.argtypes += [ctypes.c_double, pointer, pointer, ctypes.c_int]
            function.restype = ctypes.c_int
            function = getattr(library, f"glimpse_backward_{suffix}")
            function.argtypes = [integer] * 4 + [pointer] * 3 + [ctypes.c_int]

    def forward(self, dtype: torch.dtype):
        return getattr(self.library, f"glimpse_forward_{SUFFIXES[dtype]}")

    def backward(self, dtype: torch.dtype):
        return getattr(self.library, f"glimpse_backward_{SUFFIXES[dtype]}")


# --------------------------------------------------------------------------------------------
# building and loading


def _cache_folder() -> Path:
    if folder := os.environ.get("HART_KERNEL_CACHE"):
        return Path(folder)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hart" / "kernels"


def _target(compiler: str, flags: tuple[str, ...]) -> bytes:
    """What ``compiler`` builds for with ``flags`` here: its predefined macros (instruction
    sets, version, OpenMP), or ``b""`` where it cannot say (the build then says why)."""
    compile_flags = [flag for flag in flags if not flag.startswith("-l")]
    command = [compiler, *compile_flags, "-dM", "-E", "-x", "c", os.devnull]
    try:
        result = subprocess.run(command, capture_output=True)
    except OSError:
        return b""
    return result.stdout if result.returncode == 0 else b""


def _compile(compiler: str, flags: tuple[str, ...], target: Path) -> str | None:
    """Build the library at ``target``; return the compiler's complaint, or None."""
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        objects = []
        compile_flags = [flag for flag in flags if not flag.startswith("-l")]
        for suffix, real, defines in BUILDS:
            obj = Path(scratch) / f"{suffix}.o"
            defines = [f"-DREAL={real}", f"-DNAME(f)=f##_{suffix}", *defines]
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
        parts = [source, " ".join(flags).encode(), _target(compiler, flags), platform.machine()]
        key = hashlib.sha256(b"\0".join(p if isinstance(p, bytes) else p.encode() for p in parts))
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


# --------------------------------------------------------------------------------------------
# calling it


def read(
    compiled: Kernel, frames: torch.Tensor, positions: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Glimpses ``(B, C, h, w)`` of CPU ``frames`` ``(B, C, H, W)`` (a dtype of ``SUFFIXES``,
    any strides) at the filters ``positions`` ``(B, 6)`` float64
    (:func:`hart.model.filterbanks.filter_positions`), differentiable in the positions (not in
    the frames); in the frames' dtype.

    Raises ValueError for a box so large that its filters' reach overflows float64: the kernel
    is safe for every finite filter (it clamps each position to the frame before it becomes an
    integer), so this is the one bound it needs."""
    glimpse_h, glimpse_w = size
    first, stride, sigma = positions[:, [0, 3]], positions[:, [1, 4]], positions[:, [2, 5]]
    low, high = filter_reach(first, stride, sigma, torch.tensor([glimpse_w, glimpse_h]))
    if not torch.isfinite(torch.cat([low, high])).all():
        raise ValueError("a box is too large for the glimpse (its filters overflow float64)")
    return _KernelRead.apply(positions, frames, size, compiled)


def _frame_table(frames: torch.Tensor) -> torch.Tensor:
    """Where the kernel finds each sample's ``(C, H, W)`` frame in a batch ``(B, C, H, W)``:
    ``(B, 6)`` int64 ``address, height, width, stride_c, stride_y, stride_x`` (sizes and
    strides in elements)."""
    step = frames.stride(0) * frames.element_size()
    first, rest = frames.data_ptr(), [*frames.shape[2:], *frames.stride()[1:]]
    return torch.tensor([[first + b * step, *rest] for b in range(len(frames))])


class _KernelRead(torch.autograd.Function):
    """The kernel's glimpses, differentiable in the filter positions ``(B, 6)``.

    With gradients wanted, the forward pass also returns, per sample and channel, four
    products of the frame with the banks' derivatives (see the kernel); the backward pass then
    only sums them against the glimpses' gradient, without reading the frames again."""

    @staticmethod
    def forward(ctx, positions, frames, size, compiled):  # noqa: D102
        batch, channels = frames.shape[:2]
        glimpse_h, glimpse_w = size
        # float32 arithmetic for bfloat16 frames: the glimpse comes back in float32, then is
        # rounded once to bfloat16.
        work = torch.float64 if frames.dtype == torch.float64 else torch.float32
        table = _frame_table(frames)
        positions = positions.detach().contiguous()
        glimpses = frames.new_empty(batch, channels, glimpse_h, glimpse_w, dtype=work)
        products = None
        if ctx.needs_input_grad[0]:
            products = frames.new_empty(batch, channels, 4, glimpse_w, glimpse_h, dtype=work)
        status = compiled.forward(frames.dtype)(
            batch,
            channels,
            table.data_ptr(),
            positions.data_ptr(),
            glimpse_w,
            glimpse_h,
            TRUNCATE_SIGMAS,
            glimpses.data_ptr(),
            None if products is None else products.data_ptr(),
            torch.get_num_threads(),
        )
        if status:
            raise MemoryError("the glimpse kernel ran out of memory")
        ctx.save_for_backward(products)
        ctx.compiled, ctx.dtype = compiled, frames.dtype
        return glimpses.to(frames.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_glimpses):  # noqa: D102
        (products,) = ctx.saved_tensors  # (B, C, 4, w, h)
        batch, channels, _, glimpse_w, glimpse_h = products.shape
        grad_glimpses = grad_glimpses.to(products.dtype).contiguous()
        grad_positions = grad_glimpses.new_empty(batch, 6, dtype=torch.float64)
        ctx.compiled.backward(ctx.dtype)(
            batch,
            channels,
            glimpse_w,
            glimpse_h,
            products.data_ptr(),
            grad_glimpses.data_ptr(),
            grad_positions.data_ptr(),
            torch.get_num_threads(),
        )
        return grad_positions, None, None, None
