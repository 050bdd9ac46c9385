"""The AlexNet trunk: output grid, weight loading from local files only, freezing."""

from __future__ import annotations

import pytest
import torch
import torchvision

from hart.errors import InputError
from hart.model.features import (
    AlexNetTrunk,
    build_feature_trunk,
    feature_map_size,
    imagenet_weights_path,
    load_alexnet_weights,
)
from hart.model.hart import HARTConfig, build_hart


def _no_download(*args, **kwargs):
    raise AssertionError("nothing may download weights")


@pytest.fixture(autouse=True)
def _forbid_downloads(monkeypatch):
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory):
    torch.manual_seed(0)
    state = torchvision.models.alexnet().state_dict()  # random init: no download
    path = tmp_path_factory.mktemp("weights") / "alexnet.pth"
    torch.save(state, path)
    return path, state


def test_56_glimpse_gives_14x14_maps_of_384_channels():
    trunk = AlexNetTrunk().eval()
    assert trunk(torch.rand(2, 3, 56, 56)).shape == (2, 384, 14, 14)
    assert feature_map_size((56, 56)) == (14, 14)
    for size in [(32, 32), (24, 40)]:
        assert trunk(torch.rand(1, 3, *size)).shape[-2:] == feature_map_size(size)


def test_a_narrower_trunk_scales_every_layer_and_the_network_follows(alexnet_file):
    trunk = AlexNetTrunk(width=0.5).eval()
    assert [conv.out_channels for conv in trunk.convolutions()] == [32, 96, 192]
    assert trunk(torch.rand(2, 3, 56, 56)).shape == (2, 192, 14, 14)
    model = build_hart(HARTConfig(trunk_width=0.5)).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 3, 48, 64), torch.tensor([[8.0, 6.0, 20.0, 14.0]]))
    assert out.boxes.shape == (1, 3, 4) and torch.isfinite(out.boxes).all()
    full = sum(p.numel() for p in build_hart().features.parameters())
    half = sum(p.numel() for p in model.features.parameters())
    assert half < full / 3  # about a quarter of the weights (and of the work)
    with pytest.raises(ValueError, match="width 1"):
        build_feature_trunk(alexnet_file[0], width=0.5)
    with pytest.raises(ValueError, match="positive"):
        AlexNetTrunk(width=0.0)


def test_loads_torchvision_alexnet_state_dict_from_a_local_file(alexnet_file):
    path, state = alexnet_file
    trunk = build_feature_trunk(weights=path)
    for index, conv in zip((0, 3, 6), trunk.convolutions(), strict=True):
        assert torch.equal(conv.weight, state[f"features.{index}.weight"])
        assert torch.equal(conv.bias, state[f"features.{index}.bias"])
    # And through the model's hyper-parameters, as training and tracking will pass them.
    model = build_hart(HARTConfig(feature_weights=str(path)))
    assert torch.equal(model.features.conv3.weight, state["features.6.weight"])


def test_frozen_trunk_has_no_trainable_convolutions(alexnet_file):
    trunk = build_feature_trunk(weights=alexnet_file[0], frozen=True)
    assert not any(p.requires_grad for conv in trunk.convolutions() for p in conv.parameters())
    assert all(p.requires_grad for p in trunk.norm.parameters())


def test_imagenet_weights_come_from_torchvisions_cache_only(tmp_path, monkeypatch, alexnet_file):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    expected = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert imagenet_weights_path() == expected
    with pytest.raises(InputError, match="not in torchvision's cache") as error:
        build_feature_trunk(weights="imagenet")
    assert str(expected) in str(error.value)

    expected.parent.mkdir(parents=True)
    expected.write_bytes(alexnet_file[0].read_bytes())
    trunk = build_feature_trunk(weights="imagenet")
    assert torch.equal(trunk.conv1.weight, alexnet_file[1]["features.0.weight"])


def test_bad_weight_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="torchvision AlexNet weights file not found"):
        build_feature_trunk(weights=tmp_path / "missing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read torchvision AlexNet weights") as error:
        build_feature_trunk(weights=garbage)
    assert "\n" not in str(error.value)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(64, 3, 11, 11)], listed)
    with pytest.raises(InputError, match=r"not hold torchvision AlexNet weights \(it holds a list"):
        build_feature_trunk(weights=listed)
    other = tmp_path / "resnet_like.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, other)
    with pytest.raises(InputError, match=r"AlexNet weights \(features.0.weight is missing"):
        build_feature_trunk(weights=other)


def test_a_file_that_fits_only_in_part_loads_nothing(tmp_path, alexnet_file):
    # Every tensor is checked before any is copied: a failed load leaves the trunk as it was.
    state = dict(alexnet_file[1])
    state["features.6.weight"] = torch.zeros(10, 192, 3, 3)
    half = tmp_path / "half.pth"
    torch.save(state, half)
    trunk = AlexNetTrunk()
    before = trunk.conv1.weight.detach().clone()
    with pytest.raises(InputError, match=r"features.6.weight is shape \(10, 192, 3, 3\)"):
        load_alexnet_weights(trunk, half)
    assert torch.equal(trunk.conv1.weight, before)
