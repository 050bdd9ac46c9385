"""Checks that every tracking option must pass, shared by the tests of each option."""

from __future__ import annotations

import torch

from hart.model.hart import HART, HARTState


def check_streams_as_unrolled_and_trains(
    model: HART, frames: torch.Tensor, box0: torch.Tensor
) -> HARTState:
    """Frames ``(B, T, 3, H, W)`` tracked frame by frame (``start`` then ``step``) give exactly
    the boxes of the unrolled ``forward``, and a loss on the boxes sends finite gradients to the
    box readout. → the streamed state after the last frame, for the caller's own checks."""
    with torch.no_grad():
        model.eval()
        unrolled = model(frames, box0).boxes
        out, state = model.start(frames[:, 0], box0)
        streamed = [out.box]
        for t in range(1, frames.shape[1]):
            out, state = model.step(frames[:, t], state)
            streamed.append(out.box)
    assert torch.allclose(torch.stack(streamed, 1), unrolled)
    model.train()
    out = model(frames, box0)
    (out.boxes - box0[:, None]).abs().mean().backward()
    grads = [p.grad for p in model.box_readout.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    return state
