"""AdditiveNoise and SpecAugment: identity in eval(); per-item draws with the right statistics in train()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiofront.frontend import AdditiveNoise, SpecAugment


def _snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> np.ndarray:
    clean, noise = clean.double(), (noisy - clean).double()
    return (10 * torch.log10(clean.pow(2).mean(-1) / noise.pow(2).mean(-1))).numpy()


@pytest.mark.parametrize("module", [AdditiveNoise(), SpecAugment(freq_mask_param=10, time_mask_param=10)],
                         ids=["noise", "specaugment"])
def test_identity_in_eval_mode(module):
    x = torch.rand(3, 2, 40, 50)
    module.eval()
    assert module(x) is x
    module.train()
    assert not torch.equal(module(x), x)


@pytest.mark.parametrize("snr", [0.0, 15.0, 40.0])
def test_noise_hits_a_fixed_snr(snr):
    torch.manual_seed(0)
    x = torch.randn(16, 16000) * torch.logspace(-3, 0, 16)[:, None]
    out = AdditiveNoise(snr_db=(snr, snr)).train()(x)
    # 16000 samples estimate a noise power to about 1 % (0.05 dB).
    np.testing.assert_allclose(_snr_db(x, out), snr, atol=0.3)


def test_noise_snr_is_uniform_over_the_range():
    torch.manual_seed(1)
    x = torch.randn(800, 4000)
    snr = _snr_db(x, AdditiveNoise(snr_db=(10.0, 30.0)).train()(x))
    assert snr.min() > 10.0 - 0.3 and snr.max() < 30.0 + 0.3
    # Uniform on [10, 30]: mean 20, std 20 / sqrt(12) = 5.77 (tolerances about 4 standard errors).
    assert abs(snr.mean() - 20.0) < 0.9
    assert abs(snr.std() - 20.0 / np.sqrt(12)) < 0.5
    assert snr.min() < 11.0 and snr.max() > 29.0


def test_noise_probability():
    torch.manual_seed(2)
    x = torch.randn(1000, 64)
    out = AdditiveNoise(snr_db=(10.0, 20.0), p=0.3).train()(x)
    clean = (out == x).all(dim=-1)
    touched = (out != x).all(dim=-1)
    assert bool((clean | touched).all())  # noise goes on a whole item or not at all
    assert 242 <= int(touched.sum()) <= 358  # Binomial(1000, 0.3): 300 +- 4 sigma
    assert torch.equal(AdditiveNoise(p=0.0).train()(x), x)


def test_noise_is_drawn_per_item_and_relative_to_its_own_power():
    torch.manual_seed(3)
    item = torch.randn(8000)
    batch = torch.stack([item, item, item * 1e3, item])
    out = AdditiveNoise(snr_db=(10.0, 30.0)).train()(batch)
    snr = _snr_db(batch, out)
    assert snr.min() > 9.7 and snr.max() < 30.3  # the loud item does not drown the others
    assert len(np.unique(np.round(snr, 3))) == 4  # each item its own SNR
    noise = out - batch
    assert not torch.allclose(noise[0], noise[1])
    # (batch, channels, time): each channel is an item.
    channels = torch.stack([item, item * 1e-3])[None].repeat(3, 1, 1)
    snr = _snr_db(channels, AdditiveNoise(snr_db=(10.0, 30.0)).train()(channels))
    assert snr.shape == (3, 2) and snr.min() > 9.7 and snr.max() < 30.3
    assert len(np.unique(np.round(snr, 3))) == 6


def test_noise_follows_the_torch_seed():
    x = torch.randn(2, 500)
    noise = AdditiveNoise().train()
    torch.manual_seed(7)
    first = noise(x)
    torch.manual_seed(7)
    assert torch.equal(noise(x), first)


# --- SpecAugment ----------------------------------------------------------------------------------

def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, width) of each run of True."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2])]


def _bands(masked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masked rows and columns of one (freq, frames) map, checking it is exactly their union."""
    rows, cols = masked.all(axis=1), masked.all(axis=0)
    np.testing.assert_array_equal(masked, rows[:, None] | cols[None, :])
    return rows, cols


def test_masks_are_contiguous_bands_within_the_params():
    torch.manual_seed(4)
    n_freq, n_frames, f_param, t_param = 40, 60, 7, 12
    aug = SpecAugment(freq_mask_param=f_param, time_mask_param=t_param, mask_value=-5.0).train()
    out = aug(torch.ones(2000, n_freq, n_frames)).numpy()
    assert set(np.unique(out)) <= {1.0, -5.0}
    f_widths, t_widths, f_starts, t_starts = [], [], [], []
    for item in out == -5.0:
        rows, cols = _bands(item)
        for runs, widths, starts in ((_runs(rows), f_widths, f_starts), (_runs(cols), t_widths, t_starts)):
            assert len(runs) <= 1
            for start, width in runs:
                widths.append(width)
                starts.append(start)
    assert max(f_widths) == f_param and max(t_widths) == t_param
    # Widths are uniform on 0..param: every width occurs (0 shows as no band at all).
    assert set(f_widths) == set(range(1, f_param + 1)) and set(t_widths) == set(range(1, t_param + 1))
    assert 2000 - len(f_widths) > 2000 / (f_param + 1) / 2
    # Bands reach both edges.
    assert min(f_starts) == 0 and max(s + w for s, w in zip(f_starts, f_widths)) == n_freq
    assert min(t_starts) == 0 and max(s + w for s, w in zip(t_starts, t_widths)) == n_frames


def test_several_masks_per_axis():
    torch.manual_seed(5)
    aug = SpecAugment(freq_mask_param=5, time_mask_param=4, n_freq_masks=3, n_time_masks=2, zero_masking=True).train()
    out = aug(torch.ones(500, 64, 50)).numpy()
    counts = []
    for item in out == 0.0:
        rows, cols = _bands(item)
        counts.append(len(_runs(rows)))
        assert len(_runs(rows)) <= 3 and rows.sum() <= 3 * 5
        assert len(_runs(cols)) <= 2 and cols.sum() <= 2 * 4
    assert max(counts) == 3


def test_mask_probability_and_zero_params():
    torch.manual_seed(6)
    x = torch.ones(1000, 30, 40)
    assert torch.equal(SpecAugment(freq_mask_param=5, time_mask_param=5, mask_prob=0.0).train()(x), x)
    assert torch.equal(SpecAugment().train()(x), x)  # torchaudio's defaults: params 0, nothing masked
    out = SpecAugment(freq_mask_param=5, mask_prob=0.5, zero_masking=True).train()(x)
    masked = (out == 0).any(dim=-1).any(dim=-1)
    # A mask is applied with p = 0.5 and then has width 1..5 with probability 5/6.
    assert abs(float(masked.float().mean()) - 0.5 * 5 / 6) < 0.07


def test_masks_are_drawn_per_item_and_channel():
    torch.manual_seed(8)
    x = torch.ones(16, 3, 32, 48)
    x[5] *= 1e6
    out = SpecAugment(freq_mask_param=10, time_mask_param=10, zero_masking=True).train()(x)
    masks = [(out[i, c] == 0).numpy() for i in range(16) for c in range(3)]
    for mask in masks:
        _bands(mask)
    assert len({mask.tobytes() for mask in masks}) > 40


def test_torchaudio_argument_order_and_p_bounds_the_share_of_an_axis():
    aug = SpecAugment(2, 30, 1, 7)
    assert (aug.n_time_masks, aug.time_mask_param, aug.n_freq_masks, aug.freq_mask_param) == (2, 30, 1, 7)
    torch.manual_seed(9)
    # p = 0.1 of 50 frames: no time span wider than 5 frames although time_mask_param is 30.
    out = SpecAugment(n_time_masks=1, time_mask_param=30, p=0.1, zero_masking=True).train()(torch.ones(500, 16, 50))
    widths = (out == 0).all(dim=-2).sum(dim=-1)
    assert int(widths.max()) == 5


def test_default_fill_is_each_items_own_mean():
    torch.manual_seed(10)
    x = torch.rand(8, 2, 20, 30) + torch.arange(16, dtype=torch.float32).reshape(8, 2, 1, 1) * 100
    out = SpecAugment(n_time_masks=1, time_mask_param=10, n_freq_masks=1, freq_mask_param=5).train()(x)
    for i in range(8):
        for c in range(2):
            changed = out[i, c] != x[i, c]
            if changed.any():
                torch.testing.assert_close(out[i, c][changed], x[i, c].mean().expand(int(changed.sum())))


def test_shared_masks_when_not_iid():
    torch.manual_seed(11)
    out = SpecAugment(1, 10, 1, 10, iid_masks=False, zero_masking=True).train()(torch.ones(6, 3, 32, 40))
    masks = (out == 0).reshape(18, 32, 40)
    assert masks.any() and all(torch.equal(masks[0], m) for m in masks)
