"""An item's output never depends on its batch: item i alone equals item i inside a batch."""

from __future__ import annotations

import pytest
import torch

from tests.frontend.catalogue import CASES


def _close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # Convolutions may block a batch differently from one item: allow float32 rounding, no more.
    scale = float(expected.detach().abs().max()) or 1.0
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_item_alone_equals_item_in_batch(case):
    module = case.module()
    length = max(case.min_length, 300 if case.kind == "wave" else 12)
    batch = case.example((4,), length, seed=1)
    # One item much louder than the rest: per-item statistics (top_db, normalisation) must not see it.
    batch[2] = batch[2] * 1e4 if case.kind != "spec" else batch[2] * 1e8
    out = module(batch)
    assert out.shape[0] == 4
    for i in range(4):
        _close(out[i], module(batch[i]))
        _close(out[i : i + 1], module(batch[i : i + 1]))


@pytest.mark.parametrize("case", [c for c in CASES if c.channels is None], ids=lambda c: c.name)
def test_channels_are_items_too(case):
    module = case.module()
    length = max(case.min_length, 300 if case.kind == "wave" else 12)
    x = case.example((3, 2), length, seed=2)
    x[1, 0] = x[1, 0] * 1e3
    out = module(x)
    for i in range(3):
        for ch in range(2):
            _close(out[i, ch], module(x[i, ch]))
