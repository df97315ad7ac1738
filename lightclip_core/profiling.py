"""Cost of a model: parameters and FLOPs (FLOPs = 2 x MACs, counted by torch's FlopCounterMode)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def params_m(module: nn.Module) -> float:
    """Parameter count in millions (trainable or not)."""
    return sum(p.numel() for p in module.parameters()) / 1e6


def gflops(module: nn.Module, *inputs: torch.Tensor) -> float:
    """GFLOPs of one forward of `module` on `inputs`, FLOPs = 2 x MACs (torch's FlopCounterMode)."""
    was_training = module.training
    module.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*inputs)
    module.train(was_training)
    return counter.get_total_flops() / 1e9
