"""HART's recurrent core: masked features ⊕ attention → FC → zoneout LSTM, and its first state.

The config these read (``core_channels``, ``core_size``, ``lstm_size``, ``zoneout``,
``dropout``) is :class:`hart.model.hart.HARTConfig`'s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ZoneoutLSTMCell(nn.Module):
    """An LSTM cell with zoneout (Krueger et al. 2017).

    During training each unit of ``h`` and ``c`` keeps its previous value with probability
    ``zoneout``; at evaluation the update is the expectation,
    ``zoneout · old + (1 − zoneout) · new``.
    """

    def __init__(self, input_size: int, hidden_size: int, zoneout: float = 0.05) -> None:
        super().__init__()
        if not 0.0 <= zoneout < 1.0:
            raise ValueError(f"zoneout must be in [0, 1), got {zoneout}")
        self.cell = nn.LSTMCell(input_size, hidden_size)
        self.zoneout = zoneout

    def forward(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        new = self.cell(inputs, state)
        if self.zoneout == 0.0:
            return new
        if self.training:
            keep = [(torch.rand_like(old) < self.zoneout).to(old.dtype) for old in state]
            return tuple(k * old + (1 - k) * n for k, old, n in zip(keep, state, new, strict=True))
        z = self.zoneout
        return tuple(z * old + (1 - z) * n for old, n in zip(state, new, strict=True))


class Core(nn.Module):
    """Masked features ``(B, C, m, m)`` ⊕ attention ``(B, P)`` → FC (ELU) → zoneout LSTM."""

    def __init__(
        self,
        feature_channels: int,
        map_size: tuple[int, int],
        attention_params: int,
        config,
    ) -> None:
        super().__init__()
        self.thin = nn.Conv2d(feature_channels, config.core_channels, kernel_size=1)
        self.dropout = nn.Dropout(config.dropout)
        flat = config.core_channels * map_size[0] * map_size[1]
        self.fc = nn.Linear(flat + attention_params, config.core_size)
        self.lstm = ZoneoutLSTMCell(config.core_size, config.lstm_size, config.zoneout)

    def forward(
        self,
        masked_features: torch.Tensor,
        attention: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.elu(self.thin(masked_features)).flatten(1)  # (B, C'·m·m)
        x = F.elu(self.fc(torch.cat([self.dropout(x), attention], -1)))  # (B, core_size)
        return self.lstm(x, state)


class StateInitialiser(nn.Module):
    """The first glimpse's features ``(B, C, m, m)`` → the LSTM's initial ``(h, c)``."""

    def __init__(self, feature_channels: int, map_size: tuple[int, int], config):
        super().__init__()
        self.thin = nn.Conv2d(feature_channels, config.core_channels, kernel_size=1)
        flat = config.core_channels * map_size[0] * map_size[1]
        self.fc = nn.Linear(flat, 2 * config.lstm_size)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.elu(self.thin(features)).flatten(1)  # (B, C'·m·m)
        hidden, cell = self.fc(x).chunk(2, dim=-1)  # (B, S) each
        return torch.tanh(hidden), cell
