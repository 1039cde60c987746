"""Block-sparse projection for banded filterbanks: a few dense ``MatMul`` over the bins each block touches.

Mel (and log/linear) filters are triangles: filter ``i`` touches only bins ``lo_i..hi_i``, and
these ranges move up with ``i``. Splitting the filters into a few consecutive blocks, each with
the one contiguous bin range its filters touch, turns the dense ``(n_bins x n_freq)`` projection
into ``Slice`` + small ``MatMul`` per block and one ``Concat``: at n_fft 512 and 128 mels a
tenth of the multiply-adds, plain ONNX ops, and the same numbers (only exact zeros are skipped).
"""

from __future__ import annotations

import numpy as np
import torch

from audiofront.frontend.inputs import is_tracing

__all__ = ["band_blocks", "block_project"]

# Cost model per frame, in multiply-adds: a block also copies its bin rows (Slice) and has a
# fixed cost (one more op and its output in the Concat).
_COPY_COST = 16
_BLOCK_COST = 256
_EAGER_DENSE_BELOW = 1 << 20


def band_blocks(weights: np.ndarray, *, max_blocks: int = 16) -> list[tuple[int, int, int, int]]:
    """Split the columns (filters) of ``weights (n_freq, n_bins)`` into consecutive blocks.

    Returns ``[(first_filter, end_filter, first_bin, end_bin), ...]`` covering every filter in
    order; each block's bin range holds every non-zero weight of its filters. The blocks minimise
    ``filters * bins + 16 * bins + 256`` summed over blocks (dynamic programming). Empty filters
    join a neighbour. A single block over all bins means the matrix is not banded.

    Example::

        >>> band_blocks(np.eye(4))
        [(0, 4, 0, 4)]
    """
    w = np.asarray(weights)
    n_freq, n_bins = w.shape
    touched = w != 0
    lo = np.where(touched.any(0), touched.argmax(0), n_freq)
    hi = np.where(touched.any(0), n_freq - touched[::-1].argmax(0), 0)

    # spans[i, j]: the bin range of filters [i, j), from running min/max over j.
    start = np.full((n_bins + 1, n_bins + 1), n_freq)
    end = np.zeros((n_bins + 1, n_bins + 1), dtype=np.int64)
    for i in range(n_bins):
        start[i, i + 1 :] = np.minimum.accumulate(lo[i:])
        end[i, i + 1 :] = np.maximum.accumulate(hi[i:])
    width = np.maximum(end - start, 0)
    count = np.arange(n_bins + 1)[None, :] - np.arange(n_bins + 1)[:, None]
    cost = np.where(count > 0, count * width + _COPY_COST * width + _BLOCK_COST, np.inf)
    # best[k, j]: cheapest split of filters [0, j) into k blocks; back[k, j]: where its last block starts.
    best = np.full((max_blocks + 1, n_bins + 1), np.inf)
    back = np.zeros((max_blocks + 1, n_bins + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for k in range(1, max_blocks + 1):
        total = best[k - 1][:, None] + cost
        back[k] = total.argmin(0)
        best[k] = total.min(0)
    k = int(best[1:, n_bins].argmin()) + 1
    blocks, j = [], n_bins
    while k:
        i = int(back[k, j])
        a, b = int(start[i, j]), int(end[i, j])
        blocks.append((i, j) + ((a, b) if a < b else (0, 0)))
        j, k = i, k - 1
    return blocks[::-1]


def block_project(weights: torch.Tensor, x: torch.Tensor, blocks: list[tuple[int, int, int, int]], *,
                  dense_below: int = _EAGER_DENSE_BELOW) -> torch.Tensor:
    """``weights.T @ x`` computed block by block: ``(..., n_freq, frames) -> (..., n_bins, frames)``.

    ``weights`` is ``(n_freq, n_bins)``; ``blocks`` from :func:`band_blocks` for those weights.
    In eager mode an ``x`` of fewer than ``dense_below`` elements takes one dense matmul instead.
    """
    dense = len(blocks) == 1 and blocks[0][2] == 0 and blocks[0][3] == weights.shape[0]
    # Eager on small inputs, one matmul beats a dozen small ones (each op pays thread hand-offs).
    # is_tracing() first: comparing a symbolic numel would put a guard on the input's size into
    # the exported graph (torch.export then refuses dynamic shapes, or specialises on them).
    if dense or (not is_tracing() and x.numel() < dense_below):
        return torch.matmul(weights.t(), x)
    parts = []
    for first, end, lo, hi in blocks:
        if hi > lo:
            parts.append(torch.matmul(weights[lo:hi, first:end].t(), x[..., lo:hi, :]))
        else:
            # Only empty filters: their all-zero columns over one bin give zeros of the right shape.
            parts.append(torch.matmul(weights[:1, first:end].t(), x[..., :1, :]))
    return torch.cat(parts, dim=-2)
