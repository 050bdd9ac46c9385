"""Glimpse readers: what they compute (against OpenCV's resizes), gradients, parameters, errors."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from hart.model import filterbanks
from hart.model import glimpse as G
from hart.model.glimpse import gaussian_glimpse, gaussian_glimpse_dense, stn_glimpse

GAUSSIAN_READERS = [gaussian_glimpse, gaussian_glimpse_dense]
READERS = [*GAUSSIAN_READERS, stn_glimpse]
# The fast Gaussian reader drops the filters' mass beyond 5σ: its glimpses may differ from the
# dense reference's by up to 1.2e-6 of the image's largest value (filterbanks.TRUNCATE_SIGMAS).
TRUNCATION = 1.2e-6


def exactness(reader) -> float:
    """Absolute tolerance of a reader where the dense one is exact (for images in [0, 1])."""
    return 1e-9 if reader is gaussian_glimpse_dense else TRUNCATION


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def smooth_image(height: int, width: int) -> np.ndarray:
    """A smooth float64 image in [0.1, 0.9]: slow waves, so any local average is near its centre."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5  # pixel centres
    return 0.5 + 0.2 * np.sin(xx / 13.0) + 0.2 * np.cos(yy / 11.0 + xx / 29.0)


def as_batch(image: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(image).to(dtype)[None, None]  # (1, 1, H, W)


def one_box(x, y, w, h, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor([[x, y, w, h]], dtype=dtype)


# --------------------------------------------------------------------------------------------
# what the Gaussian reader computes


@pytest.mark.parametrize(
    ("box", "size"),
    [
        ((40, 30, 64, 48), (16, 16)),  # stride 4 × 3
        ((40, 30, 64, 48), (8, 12)),  # stride 5.33 × 6: non-integer
        ((20, 15, 112, 56), (56, 56)),  # stride 2 × 1
        ((33, 17, 56, 56), (56, 56)),  # stride 1: a copy, slightly blurred
        ((10, 10, 120, 90), (20, 30)),  # stride 4 × 4.5
    ],
)
@pytest.mark.parametrize("reader", GAUSSIAN_READERS)
def test_gaussian_glimpse_is_an_area_average(reader, box, size):
    image = smooth_image(140, 180)
    x, y, w, h = box
    crop = image[y : y + h, x : x + w]
    expected = cv2.resize(crop, size[::-1], interpolation=cv2.INTER_AREA)
    glimpse = reader(as_batch(image), one_box(*box), size)[0, 0].numpy()
    assert glimpse.shape == size
    np.testing.assert_allclose(glimpse, expected, atol=2e-3)


@pytest.mark.parametrize(
    ("box", "size"), [((40, 40, 28, 28), (56, 56)), ((40, 40, 30, 14), (60, 56))]
)
@pytest.mark.parametrize("reader", GAUSSIAN_READERS)
def test_gaussian_glimpse_magnifies_smoothly(reader, box, size):
    # Upsampling: OpenCV's INTER_AREA interpolates between the source pixels, and replicates the
    # crop's edge; compare away from the edge with a tolerance for the different interpolants.
    image = smooth_image(120, 120)
    x, y, w, h = box
    expected = cv2.resize(image[y : y + h, x : x + w], size[::-1], interpolation=cv2.INTER_AREA)
    glimpse = reader(as_batch(image), one_box(*box), size)[0, 0].numpy()
    np.testing.assert_allclose(glimpse[4:-4, 4:-4], expected[4:-4, 4:-4], atol=1e-2)


@pytest.mark.parametrize("reader", GAUSSIAN_READERS)
def test_gaussian_glimpse_low_passes_where_stn_aliases(reader):
    # A one-pixel checkerboard shrunk 3×: an area average is flat grey; point samples (the
    # glimpse pixel centres fall on source pixel centres) read a checkerboard again.
    yy, xx = np.mgrid[0:48, 0:48]
    checkers = ((yy + xx) % 2).astype(np.float64)
    box = one_box(0, 0, 48, 48)
    gaussian = reader(as_batch(checkers), box, (16, 16))[0, 0]
    stn = stn_glimpse(as_batch(checkers), box, (16, 16))[0, 0]
    inner = gaussian[2:-2, 2:-2]
    torch.testing.assert_close(inner, torch.full_like(inner, 0.5), atol=1e-3, rtol=0)
    torch.testing.assert_close((stn - 0.5).abs(), torch.full_like(stn, 0.5))


@pytest.mark.parametrize("reader", GAUSSIAN_READERS)
def test_constant_image_gives_constant_glimpse(reader):
    images = torch.full((2, 3, 80, 90), 0.7, dtype=torch.float64)
    boxes = torch.tensor([[20.0, 15.0, 40.0, 30.0], [30.5, 25.25, 7.5, 9.0]], dtype=torch.float64)
    for size in [(10, 10), (16, 24), (56, 56)]:
        glimpse = reader(images, boxes, size)
        expected = torch.full_like(glimpse, 0.7)
        torch.testing.assert_close(glimpse, expected, atol=exactness(reader), rtol=0)


@pytest.mark.parametrize("reader", GAUSSIAN_READERS)
def test_outside_the_frame_reads_as_zeros(reader):
    images = torch.ones(1, 1, 50, 50, dtype=torch.float64)
    # The left half of this box lies outside the frame: columns centred at c = -22.5, -17.5, …,
    # 22.5 (stride 5) read the Gaussian mass N(c, σ²) on [0, ∞), the part inside the frame.
    glimpse = reader(images, one_box(-25, 10, 50, 30), (10, 10))[0, 0]
    sigma = math.sqrt(5**2 / 12 + filterbanks.SIGMA_FLOOR**2)
    inside = [0.5 * math.erfc(-(-22.5 + 5 * j) / (sigma * math.sqrt(2))) for j in range(10)]
    expected = torch.tensor(inside, dtype=torch.float64).expand(10, 10)
    torch.testing.assert_close(glimpse, expected, atol=exactness(reader), rtol=0)
    assert glimpse[0, 4] < 0.1 < 0.9 < glimpse[0, 5]  # the columns either side of the edge


# --------------------------------------------------------------------------------------------
# filter banks


def test_filterbank_rows_sum_to_one():
    centres = torch.tensor([30.0, 50.5, 41.2], dtype=torch.float64)
    strides = torch.tensor([2.0, 0.3, 4.7], dtype=torch.float64)
    for sigma in [0.05, 0.3, 1.0, 3.7]:
        sigmas = torch.full((3,), sigma, dtype=torch.float64)
        bank = filterbanks.gaussian_filterbank(centres, strides, sigmas, 8, 120)
        assert bank.shape == (3, 8, 120)
        assert (bank >= 0).all()
        torch.testing.assert_close(bank.sum(-1), torch.ones(3, 8, dtype=torch.float64))


def test_filterbank_row_centre_and_spread():
    # Each row is a Gaussian centred at u + i·d with std σ (sampled over whole pixels, which adds
    # the variance 1/12 of a unit box).
    u, d, sigma, n = 20.3, 3.5, 2.0, 6
    one = torch.ones(1, dtype=torch.float64)
    bank = filterbanks.gaussian_filterbank(u * one, d * one, sigma * one, n, 80)[0]
    pixel_centres = torch.arange(80, dtype=torch.float64) + 0.5
    means = bank @ pixel_centres
    variances = bank @ pixel_centres**2 - means**2
    torch.testing.assert_close(means, u + d * torch.arange(n, dtype=torch.float64))
    torch.testing.assert_close(variances, torch.full((n,), sigma**2 + 1 / 12, dtype=torch.float64))


def test_filterbank_rows_lose_the_mass_outside_the_frame():
    # Rows centred at 0, 10 and 49 of a 50-pixel frame keep the mass on [0, 50].
    one = torch.ones(1, dtype=torch.float64)
    bank = filterbanks.gaussian_filterbank(0.0 * one, 10.0 * one, 2.0 * one, 3, 50)[0]
    inside = [
        math.erf((50 - c) / (2.0 * math.sqrt(2))) / 2 + math.erf(c / (2.0 * math.sqrt(2))) / 2
        for c in (0.0, 10.0, 20.0)
    ]
    torch.testing.assert_close(bank.sum(-1), torch.tensor(inside, dtype=torch.float64))
    assert bank.sum(-1)[0] == pytest.approx(0.5)


def test_sigma_for_stride():
    strides = torch.tensor([0.0, 1.0, 6.0, 60.0])
    expected = torch.sqrt(strides**2 / 12 + filterbanks.SIGMA_FLOOR**2)
    torch.testing.assert_close(filterbanks.sigma_for_stride(strides), expected)
    torch.testing.assert_close(filterbanks.sigma_for_stride(strides, 0.25), expected + 0.25)
    assert (filterbanks.sigma_for_stride(strides, -10.0) > 0).all()  # floored


# --------------------------------------------------------------------------------------------
# attention parameters


def random_boxes(n: int, dtype=torch.float64) -> torch.Tensor:
    xy = torch.rand(n, 2, dtype=dtype) * 200 - 20
    wh = torch.rand(n, 2, dtype=dtype) * 150 + 1
    return torch.cat([xy, wh], -1)


def test_ratm_parameters_round_trip():
    boxes = random_boxes(20)
    params = G.box_to_ratm(boxes, (12, 16))
    assert params.shape == (20, 6)
    torch.testing.assert_close(G.ratm_to_box(params, (12, 16)), boxes)
    u_y, sigma_y, d_y, u_x, sigma_x, d_x = params.unbind(-1)
    torch.testing.assert_close(d_x, boxes[:, 2] / 16)
    torch.testing.assert_close(d_y, boxes[:, 3] / 12)
    torch.testing.assert_close(u_x, boxes[:, 0] + d_x / 2)  # first filter on the first centre
    torch.testing.assert_close(sigma_y, filterbanks.sigma_for_stride(d_y))


def test_hart_parameters_round_trip():
    boxes = random_boxes(20)
    frame_size = (375, 1242)
    params = G.box_to_hart(boxes, frame_size)
    torch.testing.assert_close(params[:, 0], boxes[:, 1] / 375)  # y
    torch.testing.assert_close(params[:, 3], boxes[:, 2] / 1242)  # w
    torch.testing.assert_close(G.hart_to_box(params, frame_size), boxes)


def test_both_parameterisations_give_the_same_filterbanks():
    boxes = random_boxes(5)
    size, frame_size = (8, 10), (120, 160)
    ratm = G.ratm_filterbanks(G.box_to_ratm(boxes, size), size, frame_size)
    hart = G.box_filterbanks(
        G.hart_to_box(G.box_to_hart(boxes, frame_size), frame_size), size, frame_size
    )
    for a, b in zip(ratm, hart, strict=True):
        torch.testing.assert_close(a, b)


# --------------------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    "box", [(20.3, 15.7, 40.2, 30.9), (-10.4, 50.6, 30.3, 40.2), (5.2, 3.1, 6.3, 4.7)]
)
def test_box_gradients_are_finite_and_non_zero(reader, box):
    images = as_batch(smooth_image(80, 90)).expand(1, 3, 80, 90) * torch.rand(1, 3, 1, 1)
    boxes = one_box(*box).requires_grad_()
    weights = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    (reader(images, boxes, (8, 8)) * weights).sum().backward()
    assert torch.isfinite(boxes.grad).all()
    assert (boxes.grad.abs() > 1e-6).all(), boxes.grad


@pytest.mark.parametrize("reader", READERS)
def test_gradcheck(reader):
    images = torch.rand(2, 2, 20, 24, dtype=torch.float64)
    boxes = torch.tensor([[3.3, 4.1, 12.7, 9.4], [-2.2, 8.6, 9.1, 13.3]], dtype=torch.float64)
    boxes.requires_grad_()
    # The full Jacobian takes one backward pass per output: keep the outputs few.
    assert torch.autograd.gradcheck(lambda b: reader(images[:, :1], b, (3, 4)), (boxes,))
    images.requires_grad_()  # many inputs: fast mode checks a random projection of the Jacobian
    assert torch.autograd.gradcheck(
        lambda i: reader(i, boxes.detach(), (5, 6)), (images,), fast_mode=True
    )


@pytest.mark.parametrize("reader", GAUSSIAN_READERS)
def test_gradcheck_sigma_offset(reader):
    images = torch.rand(2, 1, 16, 18, dtype=torch.float64)
    boxes = torch.tensor([[3.3, 4.1, 10.7, 9.4], [1.2, 2.6, 9.1, 11.3]], dtype=torch.float64)
    offset = torch.tensor([0.2, -0.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda o: reader(images, boxes, (4, 4), o), (offset,))


# --------------------------------------------------------------------------------------------
# the STN reader


@pytest.mark.parametrize(
    ("box", "size", "margin"),
    [
        ((40, 30, 64, 48), (16, 16), 0),  # stride 4 × 3
        ((40, 30, 60, 45), (20, 18), 0),  # stride 3 × 2.5
        ((33, 17, 56, 56), (56, 56), 0),
        ((40, 40, 28, 14), (56, 56), 4),  # magnify 2× and 4×
    ],
)
def test_stn_glimpse_is_a_bilinear_resize(box, size, margin):
    # OpenCV clamps its sample positions to the crop while the STN reads the frame around it:
    # they can differ only within half a source pixel of the crop's edge (``margin`` glimpse px).
    image = smooth_image(120, 150) + np.random.default_rng(0).uniform(0, 0.1, (120, 150))
    x, y, w, h = box
    expected = cv2.resize(
        image[y : y + h, x : x + w].astype(np.float32), size[::-1], interpolation=cv2.INTER_LINEAR
    )
    glimpse = stn_glimpse(as_batch(image, torch.float32), one_box(*box, torch.float32), size)
    glimpse = glimpse[0, 0].numpy()
    inner = (slice(margin, size[0] - margin), slice(margin, size[1] - margin))
    np.testing.assert_allclose(glimpse[inner], expected[inner], atol=1e-5)


# --------------------------------------------------------------------------------------------
# batches, dtypes, devices


@pytest.mark.parametrize("reader", READERS)
def test_each_glimpse_reads_its_own_image(reader):
    images = torch.rand(3, 2, 30, 40)
    boxes = torch.tensor([[2.0, 3.0, 20.0, 15.0], [10.0, 5.0, 8.0, 20.0], [-3.0, 0.0, 30.0, 30.0]])
    together = reader(images, boxes, (6, 7))
    assert together.shape == (3, 2, 6, 7)
    for i in range(3):
        alone = reader(images[i : i + 1], boxes[i : i + 1], (6, 7))
        # The fast reader's windows depend on the batch (a common length): truncation only.
        torch.testing.assert_close(together[i : i + 1], alone, atol=TRUNCATION, rtol=0)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float16, 5e-3), (torch.bfloat16, 3e-2)])
def test_half_precision(reader, dtype, tolerance):
    images = torch.rand(2, 3, 40, 50)
    boxes = torch.tensor([[3.0, 4.0, 20.0, 10.0], [-5.0, 2.0, 50.0, 40.0]], requires_grad=True)
    expected = reader(images, boxes.detach(), (8, 8))
    glimpse = reader(images.to(dtype), boxes, (8, 8))
    assert glimpse.dtype == dtype
    torch.testing.assert_close(glimpse.float(), expected, atol=tolerance, rtol=0)
    glimpse.float().sum().backward()
    assert torch.isfinite(boxes.grad).all() and (boxes.grad != 0).any()


@needs_cuda
@pytest.mark.parametrize("reader", READERS)
def test_cuda_matches_cpu(reader):
    images = torch.rand(3, 3, 60, 80)
    boxes = torch.tensor([[2.0, 3.0, 40.0, 25.0], [-10.0, 5.0, 30.0, 50.0], [20.0, 10.0, 5.0, 7.0]])
    cpu_boxes = boxes.clone().requires_grad_()
    cuda_boxes = boxes.cuda().requires_grad_()
    expected = reader(images, cpu_boxes, (12, 12))
    glimpse = reader(images.cuda(), cuda_boxes, (12, 12))
    torch.testing.assert_close(glimpse.cpu(), expected, atol=1e-4, rtol=1e-4)
    expected.sum().backward()
    glimpse.sum().backward()
    torch.testing.assert_close(cuda_boxes.grad.cpu(), cpu_boxes.grad, atol=1e-3, rtol=1e-3)


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("images_shape", "boxes", "size", "message"),
    [
        ((2, 3, 20, 20), [[1.0, 1.0, 5.0]] * 2, (4, 4), r"boxes must be \(B, 4\)"),
        ((2, 3, 20, 20), [[[1.0, 1.0, 5.0, 5.0]]] * 2, (4, 4), r"boxes must be \(B, 4\)"),
        ((2, 3, 20, 20), [[1.0, 1.0, 5.0, 5.0]] * 3, (4, 4), "2 images but 3 boxes"),
        ((3, 20, 20), [[1.0, 1.0, 5.0, 5.0]] * 3, (4, 4), r"images must be \(B, C, H, W\)"),
        ((1, 3, 20, 20), [[1.0, 1.0, 0.0, 5.0]], (4, 4), "positive width and height"),
        ((1, 3, 20, 20), [[1.0, 1.0, 5.0, -2.0]], (4, 4), "positive width and height"),
        ((1, 3, 20, 20), [[1.0, float("nan"), 5.0, 5.0]], (4, 4), "finite"),
        ((1, 3, 20, 20), [[1.0, 1.0, 5.0, 5.0]], (1, 4), "at least 2×2"),
        ((1, 3, 20, 20), [[1.0, 1.0, 5.0, 5.0]], (4, 0), "at least 2×2"),
        ((1, 3, 20, 20), [[1.0, 1.0, 5.0, 5.0]], (4,), r"\(height, width\)"),
    ],
)
def test_bad_input_raises_value_error_naming_it(reader, images_shape, boxes, size, message):
    with pytest.raises(ValueError, match=message):
        reader(torch.rand(images_shape), torch.tensor(boxes), size)


def test_parameter_conversions_check_the_glimpse_size():
    with pytest.raises(ValueError, match="at least 2×2"):
        G.box_to_ratm(random_boxes(2), (1, 8))
