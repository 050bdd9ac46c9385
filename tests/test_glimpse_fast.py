"""The fast Gaussian reader against the dense reference: values, gradients, every kind of box,
through the compiled kernel and through its PyTorch fallback."""

from __future__ import annotations

import math

import cv2
import pytest
import torch

from hart.model import glimpse as G
from hart.model import kernel
from hart.model.glimpse import gaussian_glimpse, gaussian_glimpse_dense

FRAME = (90, 120)  # (H, W) of the synthetic frames
# Every filter keeps its mass within 5σ: the fast glimpse of an image in [0, 1] is within
# 2·erfc(5/√2) of the dense one where no pyramid level is used (plus float32 rounding).
TRUNCATION_BOUND = 2 * math.erfc(G.TRUNCATE_SIGMAS / math.sqrt(2)) + 1e-5


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
    """Boxes whose rows a small glimpse would read from pyramid levels 1 and more."""
    return torch.tensor(
        [
            [0.1 * width, 0.0, 0.5 * width, height],
            [-0.2 * width, -0.3 * height, 0.7 * width, 1.4 * height],
            [0.6 * width, 0.4 * height, 0.5 * width, 0.9 * height],
            [0.0, 0.0, width, height],
            [0.3 * width, -2.0 * height, 0.2 * width, 5.0 * height],
        ]
    )


def both(images, boxes, size, sigma_offset=0.0, grad_output=None):
    """Glimpses and box gradients of the fast and the dense reader."""
    results = []
    for reader in (gaussian_glimpse, gaussian_glimpse_dense):
        leaf = boxes.clone().requires_grad_()
        glimpses = reader(images, leaf, size, sigma_offset)
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


def levels_of(boxes, size):
    return G.pyramid_level(G.sigma_for_stride(boxes[:, 3] / size[0]))


@pytest.fixture(params=["kernel", "torch"])
def backend(request, monkeypatch):
    """Run a test through the compiled kernel, then through the PyTorch fallback."""
    if request.param == "kernel":
        assert kernel.load() is not None, "the glimpse kernel does not build here"
    else:
        monkeypatch.setattr(kernel, "load", lambda: None)
    return request.param


# --------------------------------------------------------------------------------------------
# exact up to the truncation


@pytest.mark.parametrize("size", [(56, 56), (12, 8), (2, 3)])
@pytest.mark.parametrize("image", ["noise", "natural"])
def test_matches_dense(backend, size, image):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)
    if image == "noise":
        frame = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
    else:
        frame = natural_image(height, width)
    images = frame.expand(len(boxes), -1, -1, -1)
    (fast, fast_grad), (dense, dense_grad) = both(images, boxes, size)
    assert (fast - dense).abs().max() <= TRUNCATION_BOUND  # well inside the 1e-3 asked for
    assert_gradients_close(fast_grad, dense_grad)


@pytest.mark.parametrize("layout", ["contiguous", "channels-last"])
def test_large_frames_match_dense(backend, layout):
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
        (fast, fast_grad), (dense, dense_grad) = both(images, boxes, size)
        assert (fast - dense).abs().max() <= TRUNCATION_BOUND
        assert_gradients_close(fast_grad, dense_grad)


def test_default_levels_stay_at_the_frame_for_ordinary_boxes():
    # A 56 × 56 glimpse of any box up to 770 px tall reads the frame itself.
    boxes = torch.tensor([[0.0, 0.0, 1900.0, 760.0], [5.0, 5.0, 20.0, 30.0]])
    assert (levels_of(boxes, (56, 56)) == 0).all()


def test_sigma_offset_and_its_gradient(backend):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)[:6]
    images = natural_image(height, width).expand(len(boxes), -1, -1, -1)
    results = []
    for reader in (gaussian_glimpse, gaussian_glimpse_dense):
        offset = torch.linspace(-0.3, 1.5, len(boxes)).requires_grad_()
        glimpses = reader(images, boxes, (10, 14), offset)
        glimpses.square().sum().backward()
        results.append((glimpses.detach(), offset.grad))
    (fast, fast_grad), (dense, dense_grad) = results
    assert (fast - dense).abs().max() <= TRUNCATION_BOUND
    torch.testing.assert_close(fast_grad, dense_grad, rtol=1e-2, atol=1e-4)


# --------------------------------------------------------------------------------------------
# tall boxes, and pyramid levels shared by the glimpses of one frame


@pytest.mark.parametrize("image", ["noise", "natural"])
def test_tall_boxes_match_dense_exactly(backend, image):
    # gaussian_glimpse reads every box at full resolution: tall ones too are exact.
    height, width = 240, 320
    boxes, size = tall_boxes(height, width), (3, 8)
    assert (levels_of(boxes, size) >= 1).all()
    if image == "noise":
        frame = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
    else:
        frame = natural_image(height, width)
    images = frame.expand(len(boxes), -1, -1, -1)
    (fast, fast_grad), (dense, dense_grad) = both(images, boxes, size)
    assert (fast - dense).abs().max() <= TRUNCATION_BOUND
    assert_gradients_close(fast_grad, dense_grad)


def glimpses_of_frame_and_dense(frame, boxes, size):
    """Glimpses and box gradients of gaussian_glimpses_of_frame and of the dense reader."""
    grad_output = torch.randn(
        len(boxes), frame.shape[0], *size, generator=torch.Generator().manual_seed(1)
    )
    results = []
    for read in (
        lambda leaf: G.gaussian_glimpses_of_frame(frame, leaf, size),
        lambda leaf: gaussian_glimpse_dense(frame.expand(len(boxes), -1, -1, -1), leaf, size),
    ):
        leaf = boxes.clone().requires_grad_()
        glimpses = read(leaf)
        glimpses.backward(grad_output.to(glimpses.dtype))
        results.append((glimpses.detach(), leaf.grad))
    return results


@pytest.mark.parametrize("image", ["noise", "natural"])
def test_shared_pyramid_levels_match_dense(backend, image):
    height, width = 240, 320
    boxes, size = tall_boxes(height, width), (3, 8)  # together larger than the frame: shared
    if image == "noise":
        frame = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
    else:
        frame = natural_image(height, width)
    (fast, fast_grad), (dense, dense_grad) = glimpses_of_frame_and_dense(frame, boxes, size)
    assert (fast - dense).abs().max() > TRUNCATION_BOUND  # the levels were used
    assert (fast - dense).abs().mean() <= 5e-3
    # A pyramid level replaces the bank by its block means. The box gradients of a batch stay
    # within 1%, even on white noise, which has all its energy in the finest detail the blocks
    # average away (measured: 0.2% on noise, 0.03% on the natural image); single boxes, whose
    # gradient may nearly cancel, within a few percent.
    batch_error = (fast_grad - dense_grad).norm() / dense_grad.norm()
    assert batch_error <= 1e-2
    if image == "natural":
        assert_gradients_close(fast_grad, dense_grad, rtol=0.1)


def test_matches_dense_on_real_frames(backend, shared_sequences):
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
            (fast, fast_grad), (dense, dense_grad) = both(images, boxes, size)
            assert (fast - dense).abs().max() <= 1e-3
            assert_gradients_close(fast_grad, dense_grad)


def test_gradcheck(backend):
    images = natural_image(128, 48).double()[None, :1].expand(2, -1, -1, -1)
    boxes = torch.tensor([[3.3, -2.1, 30.7, 122.8], [10.2, 5.6, 20.1, 100.6]], dtype=torch.float64)
    boxes.requires_grad_()
    assert torch.autograd.gradcheck(lambda b: gaussian_glimpse(images, b, (2, 5)), (boxes,))
    offset = torch.tensor([0.3, -0.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda o: gaussian_glimpse(images, boxes.detach(), (6, 5), o), (offset,)
    )


def test_gradcheck_with_shared_pyramid_levels():
    frame = natural_image(128, 48).double()[:1]
    boxes = torch.tensor([[3.3, -2.1, 30.7, 122.8], [10.2, 5.6, 20.1, 100.6]], dtype=torch.float64)
    assert (levels_of(boxes, (2, 5)) >= 1).all()
    boxes.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda b: G.gaussian_glimpses_of_frame(frame, b, (2, 5)), (boxes,)
    )


def test_row_sums():
    frame = torch.rand(2, 7, 5)
    level = G.row_sums(frame, 2)  # blocks of 4 rows; the last one holds rows 4-6 and a zero row
    torch.testing.assert_close(level[:, 0], frame[:, :4].sum(1))
    torch.testing.assert_close(level[:, 1], frame[:, 4:].sum(1))


# --------------------------------------------------------------------------------------------
# frames, dtypes, several glimpses of one frame


def test_frames_in_any_memory_layout(backend):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)
    frame = natural_image(height, width)
    channels_last = frame.permute(1, 2, 0).contiguous().permute(2, 0, 1)  # (C, H, W) view
    images = frame.expand(len(boxes), -1, -1, -1)
    expected = gaussian_glimpse(images.contiguous(), boxes, (20, 30))
    for layout in (images, channels_last.expand(len(boxes), -1, -1, -1)):
        torch.testing.assert_close(gaussian_glimpse(layout, boxes, (20, 30)), expected)


def test_frames_that_need_a_gradient_get_one():
    height, width = FRAME
    boxes = boxes_everywhere(height, width)[:4]
    images = natural_image(height, width).expand(4, -1, -1, -1).clone().requires_grad_()
    glimpses = gaussian_glimpse(images, boxes, (8, 8))
    torch.testing.assert_close(glimpses, gaussian_glimpse_dense(images, boxes, (8, 8)))
    glimpses.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_dtypes(backend, dtype):
    height, width = FRAME
    boxes = boxes_everywhere(height, width)
    images = natural_image(height, width).expand(len(boxes), -1, -1, -1)
    expected = gaussian_glimpse_dense(images.double(), boxes.double(), (16, 16))
    glimpses = gaussian_glimpse(images.to(dtype), boxes.to(torch.float64), (16, 16))
    assert glimpses.dtype == dtype
    tolerance = {torch.float64: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}[dtype]
    torch.testing.assert_close(glimpses.double(), expected, atol=tolerance, rtol=0)


def test_glimpses_of_one_frame_without_levels_are_gaussian_glimpse(backend):
    height, width = 240, 320
    frame = natural_image(height, width)
    boxes = boxes_everywhere(height, width)
    assert (levels_of(boxes, (56, 56)) == 0).all()
    expected = gaussian_glimpse(frame.expand(len(boxes), -1, -1, -1), boxes, (56, 56))
    torch.testing.assert_close(G.gaussian_glimpses_of_frame(frame, boxes, (56, 56)), expected)


def test_an_empty_batch_gives_no_glimpses(backend):
    glimpses = gaussian_glimpse(torch.rand(0, 3, 20, 30), torch.zeros(0, 4), (8, 6))
    assert glimpses.shape == (0, 3, 8, 6)


def test_glimpses_of_one_frame_checks_its_input():
    with pytest.raises(ValueError, match=r"frame must be \(C, H, W\)"):
        G.gaussian_glimpses_of_frame(torch.rand(1, 3, 10, 10), torch.rand(2, 4) + 1, (4, 4))
    with pytest.raises(ValueError, match="positive width and height"):
        G.gaussian_glimpses_of_frame(torch.rand(3, 10, 10), torch.zeros(2, 4), (4, 4))
