"""``hart bench``: time the glimpse readers side by side and measure the memory each needs.

For every frame size and batch size the same frames and boxes go to every reader (:func:`readers`)
in one process, interleaved, so that their ratios are fair even when the machine is noisy (the
absolute milliseconds are not). The dense reference is timed on its own just before them: its
calls read every frame whole (250 MB at 1080×1920, batch 10) and slowed the reader after them by
up to 1.7× when interleaved too. Two modes per configuration:

- ``fwd``: a forward pass under ``torch.no_grad()``, as when tracking;
- ``fwd+bwd``: forward and backward with respect to the boxes only (frames never need a
  gradient in hart), as when training.

Time is the median of ``--repeats`` calls after warm-up calls, each started with cold caches: the
frames are read from memory, as a new batch from a data loader is (otherwise the pixels a fast
reader reads, 18 MB at 1080×1920 and batch 10, would stay in the last-level cache). Memory is the
peak of the bytes held by tensors created during one call (every ATen op's outputs, what autograd
saves and the gradients included), above what existed before: on CUDA
``torch.cuda.max_memory_allocated``, on CPU the same counted by a dispatch mode
(:class:`TensorMemory`), as the CPU allocator keeps no statistics (an op's private scratch
memory, which never becomes a tensor, is left out).

The boxes are drawn at random (fixed seed), with each side a uniform fraction of the frame's side
in ``--box-scale`` (default 0.1–0.4, a tracked object with some context) and anywhere in the frame.
"""

from __future__ import annotations

import argparse
import statistics
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from hart.boxes import parse_size
from hart.errors import InputError
from hart.model import glimpse
from hart.model.batched_glimpse import batched_glimpse, window_for
from hart.model.devices import device_named

DEFAULT_SIZES = ((187, 621), (480, 640), (375, 1242), (1080, 1920))
QUICK_SIZES = ((187, 621), (375, 1242))
GLIMPSE_SIZE = (56, 56)
CHANNELS = 3

Reader = Callable[[torch.Tensor, torch.Tensor, tuple[int, int]], torch.Tensor]
CPU = torch.device("cpu")


def readers(device: torch.device = CPU) -> dict[str, Reader]:
    """The readers compared on ``device`` by column name, the last one the ratios' baseline:
    ``dense`` (the reference Gaussian glimpse), ``gaussian`` (as hart reads it on this device:
    on the CPU the compiled kernel, elsewhere the batched path), on the CPU also ``batched``
    (the other devices' path) and ``windows`` (its operations over windows sized on the host:
    a CPU without a C compiler), and ``stn`` (bilinear sampling)."""
    chosen = {REFERENCE: glimpse.gaussian_glimpse_dense, "gaussian": glimpse.gaussian_glimpse}
    if device.type == "cpu":
        chosen["batched"] = batched_glimpse
        chosen["windows"] = _batched_over_windows
    chosen["stn"] = glimpse.stn_glimpse
    return chosen


def _batched_over_windows(images: torch.Tensor, boxes: torch.Tensor, size) -> torch.Tensor:
    return batched_glimpse(images, boxes, size, window=window_for(boxes, size, images.shape[-2:]))


REFERENCE = "dense"
"""The reader timed on its own (see the module docstring)."""


# --------------------------------------------------------------------------------------------
# memory


class TensorMemory(TorchDispatchMode):
    """Counts the bytes of tensor storage created while active: ``current`` and ``peak``.

    Every ATen op's outputs pass through ``__torch_dispatch__``; a storage that none of the op's
    inputs shares is new and is counted until the last tensor on it is freed. Views share their
    base's storage and are not counted again. Storages that existed before are never counted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self._references: dict[int, int] = {}
        self._sizes: dict[int, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        outputs = func(*args, **(kwargs or {}))
        inputs = {
            t.untyped_storage().data_ptr()
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor)
        }
        for tensor in tree_leaves(outputs):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key in self._references:
                self._references[key] += 1
            elif key in inputs or key == 0:
                continue  # a view of, or in-place on, an input (or an empty tensor)
            else:
                self._references[key] = 1
                self._sizes[key] = storage.nbytes()
                self.current += storage.nbytes()
                self.peak = max(self.peak, self.current)
            weakref.finalize(tensor, self._release, key)
        return outputs

    def _release(self, key: int) -> None:
        self._references[key] -= 1
        if self._references[key] == 0:
            del self._references[key]
            self.current -= self._sizes.pop(key)


def peak_memory(call: Callable[[], object], device: torch.device) -> int:
    """Peak bytes of tensors that ``call()`` creates, above those that existed before."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        call()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with TensorMemory() as memory:
        call()
    return memory.peak


# --------------------------------------------------------------------------------------------
# timing


def random_boxes(
    batch: int, frame_size: tuple[int, int], scale: tuple[float, float], seed: int = 0
) -> torch.Tensor:
    """``(batch, 4)`` xywh px inside the frame, each side a uniform fraction in ``scale``."""
    generator = torch.Generator().manual_seed(seed)
    frame = torch.tensor(frame_size[::-1], dtype=torch.float64)  # (W, H)
    low, high = scale
    fraction = low + (high - low) * torch.rand(batch, 2, generator=generator, dtype=torch.float64)
    wh = frame * fraction
    xy = (frame - wh) * torch.rand(batch, 2, generator=generator, dtype=torch.float64)
    return torch.cat([xy, wh], -1).float()


def make_call(
    reader: Reader, frames: torch.Tensor, boxes: torch.Tensor, backward: bool
) -> Callable[[], None]:
    """One glimpse read (and its backward pass w.r.t. the boxes), as a no-argument call."""
    if not backward:

        def forward() -> None:
            with torch.no_grad():
                reader(frames, boxes, GLIMPSE_SIZE)

        return forward

    grad_output = torch.randn(
        frames.shape[0], frames.shape[1], *GLIMPSE_SIZE, generator=torch.Generator().manual_seed(1)
    ).to(device=frames.device, dtype=frames.dtype)

    def forward_backward() -> None:
        leaf = boxes.detach().requires_grad_()
        reader(frames, leaf, GLIMPSE_SIZE).backward(grad_output)

    return forward_backward


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# Read before every timed call: more than any last-level cache holds (up to 96 MB on CPUs with
# stacked cache, 50 MB on an H100).
FLUSH_BYTES = 128 << 20


def flush_caches(device: torch.device) -> None:
    """Reads ``FLUSH_BYTES`` of other data, so that the next call finds none of its frames in
    the caches, as with a new batch from a data loader. Reading (not writing) leaves no dirty
    lines for the next call to write back."""
    buffer = _flush_buffers.get(device)
    if buffer is None:
        buffer = _flush_buffers[device] = torch.ones(FLUSH_BYTES // 4, device=device)
    buffer.sum()


_flush_buffers: dict[torch.device, torch.Tensor] = {}


def time_calls(
    calls: dict[str, Callable[[], None]],
    repeats: int,
    warmup: int,
    device: torch.device,
    cold: bool = True,
) -> dict[str, float]:
    """Median seconds per call of each call; calls are interleaved so drift hits all alike,
    and with ``cold`` each starts with cold caches (:func:`flush_caches`)."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            if cold:
                flush_caches(device)
            _synchronize(device)
            start = time.perf_counter()
            call()
            _synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def warm_up_once(device: torch.device) -> None:
    """A first call of each reader, so that one-off start-up costs (thread pools, kernel
    selection) fall on no configuration."""
    frames = torch.rand(2, CHANNELS, 64, 64, device=device)
    boxes = torch.tensor([[4.0, 5.0, 40.0, 30.0]] * 2, device=device)
    for reader in readers(device).values():
        for backward in (False, True):
            make_call(reader, frames, boxes, backward)()


@dataclass
class Row:
    frame_size: tuple[int, int]
    batch: int
    mode: str
    seconds: dict[str, float]
    peak_bytes: dict[str, int]


def run(
    sizes: list[tuple[int, int]],
    batches: list[int],
    repeats: int,
    warmup: int,
    device: torch.device,
    box_scale: tuple[float, float],
    report: Callable[[Row], None] = lambda row: None,
    cold: bool = True,
) -> list[Row]:
    """Time and measure every reader for each frame size × batch × mode (``cold``: see
    :func:`time_calls`)."""
    warm_up_once(device)
    rows = []
    for frame_size in sizes:
        for batch in batches:
            frames = torch.rand(
                batch, CHANNELS, *frame_size, generator=torch.Generator().manual_seed(2)
            ).to(device)
            boxes = random_boxes(batch, frame_size, box_scale).to(device)
            for mode, backward in (("fwd", False), ("fwd+bwd", True)):
                calls = {
                    name: make_call(reader, frames, boxes, backward)
                    for name, reader in readers(device).items()
                }
                reference = {REFERENCE: calls.pop(REFERENCE)}
                seconds = time_calls(reference, repeats, warmup, device, cold)
                seconds |= time_calls(calls, repeats, warmup, device, cold)
                calls = reference | calls
                peaks = {name: peak_memory(call, device) for name, call in calls.items()}
                row = Row(frame_size, batch, mode, seconds, peaks)
                report(row)
                rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# the table


def header(names: list[str]) -> str:
    baseline = names[-1]
    columns = ["frame H×W", "batch", "mode"]
    columns += [f"{name} ms" for name in names]
    columns += [f"{name}/{baseline}" for name in names[:-1]]
    if {"dense", "gaussian"} <= set(names):
        columns.append("dense/gaussian")
    columns += [f"{name} MiB" for name in names]
    return "| " + " | ".join(columns) + " |\n|" + "|".join("---" for _ in columns) + "|"


def format_row(row: Row) -> str:
    names = list(row.seconds)
    baseline = row.seconds[names[-1]]
    cells = [f"{row.frame_size[0]}×{row.frame_size[1]}", str(row.batch), row.mode]
    cells += [f"{row.seconds[name] * 1e3:.2f}" for name in names]
    cells += [f"{row.seconds[name] / baseline:.1f}×" for name in names[:-1]]
    if {"dense", "gaussian"} <= set(names):
        cells.append(f"{row.seconds['dense'] / row.seconds['gaussian']:.1f}×")
    cells += [f"{row.peak_bytes[name] / 2**20:.1f}" for name in names]
    return "| " + " | ".join(cells) + " |"


# --------------------------------------------------------------------------------------------
# command line


def parse_scale(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--box-scale: {text!r} is not LOW,HIGH (e.g. 0.1,0.4)") from None
    if not 0 < low <= high <= 1:
        raise InputError(f"--box-scale: need 0 < LOW <= HIGH <= 1, got {text!r}")
    return low, high


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hart bench",
        description="Time the Gaussian and Spatial-Transformer glimpse readers side by side "
        f"(glimpse {GLIMPSE_SIZE[0]}×{GLIMPSE_SIZE[1]}, {CHANNELS} channels, float32).",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--repeats", type=int, help="timed calls per reader (default: 20; 3 with --quick)"
    )
    parser.add_argument(
        "--warmup", type=int, help="untimed calls first (default: 3; 1 with --quick)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--sizes",
        default=",".join(f"{h}x{w}" for h, w in DEFAULT_SIZES),
        help="frame sizes HxW, comma-separated",
    )
    parser.add_argument("--batches", default="1,10,32", help="batch sizes, comma-separated")
    parser.add_argument(
        "--box-scale", default="0.1,0.4", help="box side as a fraction of the frame's: LOW,HIGH"
    )
    parser.add_argument(
        "--warm-caches",
        action="store_true",
        help="do not flush the caches before each call (frames read again and again stay in "
        "the last-level cache, as a frame just decoded does when tracking)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="two frame sizes, 3 repeats, 1 warm-up unless given: a smoke run",
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    device = device_named(args.device)
    # --quick changes the defaults only: what a user types wins.
    repeats = args.repeats if args.repeats is not None else 3 if args.quick else 20
    warmup = args.warmup if args.warmup is not None else 1 if args.quick else 3
    if repeats < 1 or warmup < 0:
        raise InputError("--repeats must be at least 1 and --warmup at least 0")
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    sizes = [
        parse_size(text, "--sizes", "HxW", "375x1242", smallest=2) for text in args.sizes.split(",")
    ]
    try:
        batches = [int(text) for text in args.batches.split(",")]
    except ValueError:
        raise InputError(f"--batches: {args.batches!r} is not a list of integers") from None
    if any(batch < 1 for batch in batches):
        raise InputError(f"--batches must be positive, got {args.batches!r}")
    if args.quick:
        sizes = [size for size in sizes if size in QUICK_SIZES] or sizes[:1]

    box_scale = parse_scale(args.box_scale)
    names = list(readers(device))
    print(
        f"glimpse readers on {device} ({torch.get_num_threads()} CPU threads), "
        f"glimpse {GLIMPSE_SIZE[0]}×{GLIMPSE_SIZE[1]}, {CHANNELS} channels float32, "
        f"box sides {box_scale[0]:g}–{box_scale[1]:g} of the frame's; "
        f"median of {repeats} after {warmup} warm-up, "
        f"{'warm caches' if args.warm_caches else 'cold caches'}; "
        "memory: peak tensor bytes per call"
    )
    print(header(names), flush=True)
    run(
        sizes, batches, repeats, warmup, device, box_scale,
        report=lambda row: print(format_row(row), flush=True), cold=not args.warm_caches,
    )  # fmt: skip
    return 0
