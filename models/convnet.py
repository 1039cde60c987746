"""The 5-layer convnet of the Kapre paper's benchmark (Choi et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend.inputs import check_features, is_tracing

__all__ = ["KapreConvNet"]


class KapreConvNet(nn.Module):
    """Conv2D(64, (20, 3), stride 2) + ReLU, 4 x [Conv2D(64, (3, 3), stride 2) + ReLU], global average
    pooling, Dense(n_classes); softmax at the end when ``softmax=True``.

    Shapes: ``(batch, in_channels, freq, frames) -> (batch, n_classes)``. ``freq`` must be at least
    80 and ``frames`` at least 63 (what five stride-2 convolutions without padding need). With
    ``n_classes=88`` and one input channel it has 157,336 parameters, as in the paper.

    Example::

        >>> net = KapreConvNet(n_classes=88)
        >>> net(torch.randn(2, 1, 128, 100)).shape
        torch.Size([2, 88])
    """

    def __init__(self, n_classes: int = 88, in_channels: int = 1, *, width: int = 64, softmax: bool = False):
        super().__init__()
        for name, value in (("n_classes", n_classes), ("in_channels", in_channels), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, (20, 3), stride=2), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(width, width, (3, 3), stride=2), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, n_classes)
        self.n_classes = n_classes
        self.in_channels = in_channels
        self.softmax = bool(softmax)

    # Smallest (freq, frames) that five unpadded stride-2 convolutions accept.
    MIN_FREQ = 80
    MIN_FRAMES = 63

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, min_ndim=4, name="x")
        if not is_tracing():
            if x.shape[1] != self.in_channels or x.shape[2] < self.MIN_FREQ or x.shape[3] < self.MIN_FRAMES:
                raise InputError(
                    f"x must be (batch, {self.in_channels}, freq >= {self.MIN_FREQ}, frames >= {self.MIN_FRAMES}), "
                    f"got {tuple(x.shape)}"
                )
        h = self.features(x).mean(dim=(-2, -1))
        logits = self.classifier(h)
        return torch.softmax(logits, dim=-1) if self.softmax else logits
