"""Small networks built by hand, with weights chosen so every value can be worked out on paper."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """conv(1x1, identity on 2 of 3 channels) -> ReLU -> GAP -> Linear(2 -> 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, kernel_size=1, bias=False)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 1.0  # F_0 = relu(x_0)
            self.conv.weight[1, 1] = 1.0  # F_1 = relu(x_1)
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]]))
            self.fc.bias.copy_(torch.tensor([0.5, -1.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.relu(self.conv(x))), 1))


class AlwaysEqual(str):
    """A hostile answer: a str that says it equals everything (a checker must read its
    characters, not trust its ``==``)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__
