"""The fast Gaussian readers against the dense reference: values, gradients, every kind of box,
through each path gaussian_glimpse takes: the compiled kernel (CPU), the batched reader over
windows sized for the boxes (CPU without a compiler) and the batched reader over the whole frame
(every other device; forced on the CPU here)."""

from __future__ import annotations

import math

import cv2
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from hart.model import filterbanks, kernel
from hart.model.batched_glimpse import batched_glimpse, window_for
from hart.model.glimpse import gaussian_glimpse, gaussian_glimpse_dense

FRAME = (90, 120)  # (H, W) of the synthetic frames
# Every filter keeps its mass within 5σ: the fast glimpse of an image in [0, 1] is within
# 2·erfc(5/√2) of the dense one (plus float32 rounding).
TRUNCATION_BOUND = 2 * math.erfc(filterbanks.TRUNCATE_SIGMAS / math.sqrt(2)) + 1e-5

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def natural_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """``(3, H, W)`` in [0, 1] that looks more like a photo than noise does: smooth shading,
    sharp-edged shapes and a little grain."""
    generator = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    image = 0.4 + 0.2 * torch.sin(xx / 17.0)[None] * torch.cos(yy / 23.0)[None]
    image = image.repeat(3, 1, 1)
    for _ in range(12):
        cx, cy = torch.rand(2, generator=generator) * torch.tensor([width, height])
        radius = 3 + torch.rand(1, generator=generator) * min(height, width) / 4
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < radius**2
        image[:, disc] = torch.rand(3, 1, generator=generator)
    image += 0.03 * torch.rand(image.shape, generator=generator)
    return image.clamp(0, 1)


def boxes_everywhere(height: int, width: int) -> torch.Tensor:
    """``(N, 4)`` xywh: inside, over each edge and corner, outside, tiny, huge, thin."""
    return torch.tensor(
        [
            [0.2 * width, 0.3 * height, 0.4 * width, 0.3 * height],  # inside
            [0.0, 0.0, width, height],  # the whole frame
            [-0.3 * width, 0.2 * height, 0.6 * width, 0.5 * height],  # over the left edge
            [0.7 * width, 0.1 * height, 0.6 * width, 0.3 * height],  # over the right edge
            [0.1 * width, -0.4 * height, 0.5 * width, 0.8 * height],  # over the top
            [0.3 * width, 0.8 * height, 0.3 * width, 0.5 * height],  # over the bottom
            [-0.2 * width, -0.2 * height, 0.5 * width, 0.5 * height],  # over a corner
            [1.5 * width, 0.2 * height, 0.3 * width, 0.3 * height],  # outside
            [0.5 * width, 0.5 * height, 0.7, 0.4],  # under a pixel
            [0.43 * width, 0.61 * height, 3.3, 2.1],  # tiny
            [-2.0 * width, -1.5 * height, 5.0 * width, 4.0 * height],  # huge
            [0.1 * width, 0.45 * height, 0.8 * width, 1.5],  # thin
        ]
    )


def tall_boxes(height: int, width: int) -> torch.Tensor:
    """Boxes much taller than a small glimpse: each filter reads many rows."""
    return torch.tensor(
        [
            [0.1 * width, 0.0, 0.5 * width, height],
            [-0.2 * width, -0.3 * height, 0.7 * width, 1.4 * height],
            [0.6 * width, 0.4 * height, 0.5 * width, 0.9 * height],
            [0.0, 0.0, width, height],
            [0.3 * width, -2.0 * height, 0.2 * width, 5.0 * height],
        ]
    )


def both(reader, images, boxes, size, sigma_offset=0.0, grad_output=None):
    """Glimpses and box gradients of ``reader`` and of the dense one."""
    results = []
    for read in (reader, gaussian_glimpse_dense):
        leaf = boxes.clone().requires_grad_()
        glimpses = read(images, leaf, size, sigma_offset)
        if grad_output is None:
            grad_output = torch.randn(glimpses.shape, generator=torch.Generator().manual_seed(1))
        glimpses.backward(grad_output.to(glimpses.dtype))
        results.append((glimpses.detach(), leaf.grad))
    return results


def assert_gradients_close(fast, dense, rtol=1e-2):
    """Per box: ``|fast - dense| ≤ rtol·|dense|`` (norms over x, y, w, h), with a floor for
    boxes whose gradient is all but zero (those that see nothing of the frame)."""
    error = (fast - dense).norm(dim=-1)
    allowed = rtol * dense.norm(dim=-1) + 1e-6 * dense.norm(dim=-1).max()
    assert (error <= allowed).all(), (error / dense.norm(dim=-1)).tolist()


@pytest.fixture(params=["kernel", "windows", "batched"])
def reader(request, monkeypatch):
    """A test through each path of gaussian_glimpse: the compiled kernel (skipped where no C
    compiler builds it), the batched reader over windows (the CPU without the kernel) and the
    batched reader over the whole frame (other devices)."""
    if request.param == "kernel":
        if kernel.load() is None:
            pytest.skip("the glimpse kernel does not build here (no C compiler)")
        return gaussian_glimpse
    if request.param == "windows":
        monkeypatch.setattr(kernel, "load", lambda: None)
        return gaussian_glimpse
    return batched_glimpse


# --------------------------------------------------------------------------------------------
# exact up to the truncation


@pytest.mark.parametrize("size", [(56, 56), (12, 8), (2, 3)])
@pytest.mark.parametrize("image", ["noise", "natural"])
def test_matches_dense(reader, size, image):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)
    if image == "noise":
        frame = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
    else:
        frame = natural_image(height, width)
    images = frame.expand(len(boxes), -1, -1, -1)
    (fast, fast_grad), (dense, dense_grad) = both(reader, images, boxes, size)
    assert (fast - dense).abs().max() <= TRUNCATION_BOUND  # well inside the 1e-3 asked for
    assert_gradients_close(fast_grad, dense_grad)


@pytest.mark.parametrize("layout", ["contiguous", "channels-last"])
def test_large_frames_match_dense(reader, layout):
    # Windows wider than the kernel's strips of columns (64 floats) and glimpses taller than its
    # groups of 16 row filters, including a window whose last strip overlaps the one before;
    # channels-last frames are read one pixel at a time.
    height, width = 300, 420
    frame = natural_image(height, width, seed=3)
    if layout == "channels-last":
        frame = frame.permute(1, 2, 0).contiguous().permute(2, 0, 1)
    boxes = torch.cat([boxes_everywhere(height, width), tall_boxes(height, width)])
    images = frame.expand(len(boxes), -1, -1, -1)
    for size in [(56, 56), (40, 70), (17, 5)]:
        (fast, fast_grad), (dense, dense_grad) = both(reader, images, boxes, size)
        assert (fast - dense).abs().max() <= TRUNCATION_BOUND
        assert_gradients_close(fast_grad, dense_grad)


def test_sigma_offset_and_its_gradient(reader):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)[:6]
    images = natural_image(height, width).expand(len(boxes), -1, -1, -1)
    results = []
    for read in (reader, gaussian_glimpse_dense):
        offset = torch.linspace(-0.3, 1.5, len(boxes)).requires_grad_()
        glimpses = read(images, boxes, (10, 14), offset)
        glimpses.square().sum().backward()
        results.append((glimpses.detach(), offset.grad))
    (fast, fast_grad), (dense, dense_grad) = results
    assert (fast - dense).abs().max() <= TRUNCATION_BOUND
    torch.testing.assert_close(fast_grad, dense_grad, rtol=1e-2, atol=1e-4)


# --------------------------------------------------------------------------------------------
# tall boxes, real frames, gradcheck


@pytest.mark.parametrize("image", ["noise", "natural"])
def test_tall_boxes_match_dense(reader, image):
    height, width = 240, 320
    boxes, size = tall_boxes(height, width), (3, 8)
    if image == "noise":
        frame = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
    else:
        frame = natural_image(height, width)
    images = frame.expand(len(boxes), -1, -1, -1)
    (fast, fast_grad), (dense, dense_grad) = both(reader, images, boxes, size)
    assert (fast - dense).abs().max() <= TRUNCATION_BOUND
    assert_gradients_close(fast_grad, dense_grad)


def test_matches_dense_on_real_frames(reader, shared_sequences):
    path = shared_sequences / "VOT" / "ball1" / "00000001.jpg"
    frame = torch.from_numpy(cv2.imread(str(path))[:, :, ::-1].copy()).permute(2, 0, 1) / 255.0
    height, width = frame.shape[-2:]  # channels-last memory, as OpenCV reads it
    for boxes, size in [
        (boxes_everywhere(height, width), (56, 56)),
        (tall_boxes(height, width), (16, 16)),
    ]:
        for images in (
            frame.expand(len(boxes), -1, -1, -1),
            frame.contiguous().expand(len(boxes), -1, -1, -1),
        ):
            (fast, fast_grad), (dense, dense_grad) = both(reader, images, boxes, size)
            assert (fast - dense).abs().max() <= 1e-3
            assert_gradients_close(fast_grad, dense_grad)


def test_gradcheck(reader):
    images = natural_image(128, 48).double()[None, :1].expand(2, -1, -1, -1)
    boxes = torch.tensor([[3.3, -2.1, 30.7, 122.8], [10.2, 5.6, 20.1, 100.6]], dtype=torch.float64)
    boxes.requires_grad_()
    assert torch.autograd.gradcheck(lambda b: reader(images, b, (2, 5)), (boxes,))
    offset = torch.tensor([0.3, -0.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda o: reader(images, boxes.detach(), (6, 5), o), (offset,))


# --------------------------------------------------------------------------------------------
# frames and dtypes


def test_frames_in_any_memory_layout(reader):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)
    frame = natural_image(height, width)
    channels_last = frame.permute(1, 2, 0).contiguous().permute(2, 0, 1)  # (C, H, W) view
    images = frame.expand(len(boxes), -1, -1, -1)
    expected = reader(images.contiguous(), boxes, (20, 30))
    for layout in (images, channels_last.expand(len(boxes), -1, -1, -1)):
        torch.testing.assert_close(reader(layout, boxes, (20, 30)), expected)


def test_frames_that_need_a_gradient_get_one(reader):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)[:4]
    images = natural_image(height, width).expand(4, -1, -1, -1).clone().requires_grad_()
    glimpses = reader(images, boxes, (8, 8))
    dense = gaussian_glimpse_dense(images, boxes, (8, 8))
    torch.testing.assert_close(glimpses, dense, atol=TRUNCATION_BOUND, rtol=0)
    grad_output = torch.rand(glimpses.shape)
    (fast_grad,) = torch.autograd.grad(glimpses, images, grad_output)
    (dense_grad,) = torch.autograd.grad(dense, images, grad_output)
    assert fast_grad.abs().sum() > 0
    torch.testing.assert_close(fast_grad, dense_grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_dtypes(reader, dtype):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)
    images = natural_image(height, width).expand(len(boxes), -1, -1, -1)
    expected = gaussian_glimpse_dense(images.double(), boxes.double(), (16, 16))
    glimpses = reader(images.to(dtype), boxes.to(torch.float64), (16, 16))
    assert glimpses.dtype == dtype
    tolerance = {torch.float64: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}[dtype]
    torch.testing.assert_close(glimpses.double(), expected, atol=tolerance, rtol=0)


class FrameSizedTensors(TorchDispatchMode):
    """Records the dtype of every tensor an op makes that is as large as the batch of frames."""

    def __init__(self, frame_elements: int) -> None:
        super().__init__()
        self.frame_elements = frame_elements
        self.dtypes: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        outputs = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(outputs):
            if isinstance(tensor, torch.Tensor) and tensor.numel() >= self.frame_elements:
                self.dtypes.add(tensor.dtype)
        return outputs


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_frames_are_read_as_they_are(reader, dtype):
    # No silent float32 fallback: no copy of the frames in another dtype, and the products
    # that read them (the batched paths) in the frames' own dtype.
    height, width = FRAME
    boxes = boxes_everywhere(height, width).requires_grad_()
    images = natural_image(height, width).to(dtype).expand(len(boxes), -1, -1, -1).contiguous()
    with FrameSizedTensors(images.numel()) as seen:
        glimpses = reader(images, boxes, (16, 16))
        glimpses.float().sum().backward()
    assert glimpses.dtype == dtype
    assert seen.dtypes <= {dtype}, seen.dtypes
    assert torch.isfinite(boxes.grad).all() and (boxes.grad != 0).any()


def test_an_empty_batch_gives_no_glimpses(reader):
    glimpses = reader(torch.rand(0, 3, 20, 30), torch.zeros(0, 4), (8, 6))
    assert glimpses.shape == (0, 3, 8, 6)


# --------------------------------------------------------------------------------------------
# the batched path never waits for the device


def host_reads_forbidden(monkeypatch):
    """Every Python way to read a tensor's value on the host raises."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a tensor's value was read on the host")

    for name in ("item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)


@pytest.mark.parametrize("windows", [False, True])
def test_batched_glimpse_reads_no_value_on_the_host(monkeypatch, windows):
    height, width = FRAME
    # Over every edge and corner, tiny and thin: windows smaller than the frame.
    boxes = boxes_everywhere(height, width)[[0, 2, 3, 4, 5, 6, 8, 9]].requires_grad_()
    images = natural_image(height, width).expand(len(boxes), -1, -1, -1)
    offset = torch.full((len(boxes),), 0.2, requires_grad=True)
    expected = gaussian_glimpse_dense(images, boxes, (12, 10), offset)
    window = window_for(boxes, (12, 10), FRAME, offset) if windows else None
    assert window is None or (window[0] < height and window[1] < width)
    with monkeypatch.context() as patched:
        host_reads_forbidden(patched)
        glimpses = batched_glimpse(images, boxes, (12, 10), offset, window)
        glimpses.sum().backward()
    assert boxes.grad is not None and offset.grad is not None
    torch.testing.assert_close(glimpses, expected, atol=TRUNCATION_BOUND, rtol=0)


@pytest.mark.parametrize("window", [None, (40, 60)])
def test_batched_glimpse_runs_on_meta_tensors(window):
    # Meta tensors have shapes but no values: any operation whose result depends on a value
    # (an .item(), a nonzero(), a mask's selection — each a wait for a GPU) fails on them.
    images = torch.empty(6, 3, *FRAME, device="meta")
    boxes = torch.empty(6, 4, device="meta", requires_grad=True)
    glimpses = batched_glimpse(images, boxes, (56, 56), window=window)
    assert glimpses.shape == (6, 3, 56, 56) and glimpses.device.type == "meta"
    glimpses.sum().backward()
    assert boxes.grad.shape == (6, 4)


@needs_cuda
def test_gaussian_glimpse_on_cuda_never_synchronises():
    height, width = FRAME
    boxes = boxes_everywhere(height, width).cuda().requires_grad_()
    images = natural_image(height, width).expand(len(boxes), -1, -1, -1).cuda()
    expected = gaussian_glimpse_dense(images.cpu(), boxes.detach().cpu(), (16, 16))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        glimpses = gaussian_glimpse(images, boxes, (16, 16))
        glimpses.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(glimpses.cpu(), expected, atol=1e-4, rtol=0)


# --------------------------------------------------------------------------------------------
# boxes of any size reach the kernel safely


def test_enormous_boxes(reader):
    # Filters far wider than the frame: the kernel's positions are clamped to the frame before
    # they become integers, and its memory is bounded by the frame, whatever the box.
    images = natural_image(*FRAME).expand(3, -1, -1, -1)
    boxes = torch.tensor(
        [[-1e12, -1e12, 3e12, 3e12], [5.0, 5.0, 1e9, 20.0], [1e15, 1e15, 1.0, 1.0]],
        dtype=torch.float64,
    )
    glimpses = reader(images, boxes, (8, 8))
    dense = gaussian_glimpse_dense(images, boxes, (8, 8))
    torch.testing.assert_close(glimpses, dense, atol=TRUNCATION_BOUND, rtol=0)


def test_a_box_beyond_float64_is_refused():
    if kernel.load() is None:
        pytest.skip("the glimpse kernel does not build here (no C compiler)")
    images = torch.rand(1, 3, 20, 30)
    boxes = torch.tensor([[0.0, 0.0, 1e300, 1e300]], dtype=torch.float64)
    with pytest.raises(ValueError, match="too large"):
        gaussian_glimpse(images, boxes, (8, 8))
