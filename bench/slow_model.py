"""A classifier made slow on purpose: the version "built to fail" a latency guard.

It answers exactly like the model it wraps, after a chain of 36 512 x 512 matrix products
per row (over 100 ms a request on a 2-core machine, more under load), so a guarded promotion
of it breaks any latency SLA below that. Used by bench/auto_rollback.py and the guard tests.
"""

from __future__ import annotations

import torch


class SlowClassifier(torch.nn.Module):
    def __init__(self, base: torch.nn.Module, steps: int = 36, width: int = 512) -> None:
        super().__init__()
        self.base = base
        self.steps = steps
        generator = torch.Generator().manual_seed(0)
        spread = torch.randn(64, width, generator=generator) / 8
        self.spread = torch.nn.Parameter(spread, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(x @ self.spread)
        m = h.unsqueeze(-1) * h.unsqueeze(-2)
        for _ in range(self.steps):
            m = torch.tanh(m @ m)
        return self.base(x) + 0.0 * m.mean(dim=(-1, -2)).unsqueeze(-1)
