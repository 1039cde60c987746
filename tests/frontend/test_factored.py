"""The factored DFT ("factored", "auto") and the block-sparse filterbank against librosa (float64),
the direct convolution, onnxruntime, and across batches."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from audiofront.errors import ConfigError
from audiofront.frontend import Filterbank, MelScale, MelSpectrogram, Spectrogram, functional
from audiofront.frontend.blocksparse import band_blocks, block_project
from audiofront.frontend.dft import DirectDFT
from audiofront.frontend.factored import AutoDFT, FactoredDFT, factored_radix
from tests.frontend.references import (
    TOLERANCE,
    WINDOW_KINDS,
    config_id,
    draw_stft_configs,
    librosa_window,
    module_window,
    rel_l2,
    waveform,
)

# The frontend tests' grid (mostly hops that do not split: the fallback) ...
FRONTEND_GRID = draw_stft_configs(10, seed=20261125)


def _factorable_configs(count: int, seed: int) -> list[dict]:
    """... and a grid where the factored path runs: n_fft and hop multiples of 8 or 16."""
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        radix = (8, 16)[i % 2]
        n_fft = radix * int(rng.integers(8, 40))
        win_length = int(rng.integers(n_fft // 2, n_fft)) if i % 3 == 0 else n_fft
        configs.append({
            "n_fft": n_fft,
            "win_length": win_length,
            "hop_length": radix * int(rng.integers(1, n_fft // radix + 3)),  # may exceed n_fft
            "window": WINDOW_KINDS[i % len(WINDOW_KINDS)],
            "center": (i // 2) % 2 == 0,
            "pad_mode": ("reflect", "constant")[(i // 4) % 2],
            "length": int(rng.integers(n_fft + 1, 3 * n_fft + 400)),
            "seed": int(rng.integers(0, 2**31)),
        })
    return configs


FACTORABLE_GRID = _factorable_configs(12, seed=7)


def _spectrogram(c: dict, algorithm: str, **kwargs) -> Spectrogram:
    return Spectrogram(n_fft=c["n_fft"], win_length=c["win_length"], hop_length=c["hop_length"], center=c["center"],
                       pad_mode=c["pad_mode"], window=module_window(c["window"], c["win_length"], c["seed"]),
                       algorithm=algorithm, **kwargs)


def _librosa_stft(y: np.ndarray, c: dict) -> np.ndarray:
    return librosa.stft(y, n_fft=c["n_fft"], win_length=c["win_length"], hop_length=c["hop_length"],
                        center=c["center"], pad_mode=c["pad_mode"],
                        window=librosa_window(c["window"], c["win_length"], c["seed"]), dtype=np.complex128)


def test_factorable_grid_runs_the_factored_path():
    assert all(isinstance(_spectrogram(c, "factored").dft, FactoredDFT) for c in FACTORABLE_GRID)
    assert {factored_radix(c["n_fft"], c["hop_length"]) for c in FACTORABLE_GRID} == {8, 16}


@pytest.mark.parametrize("algorithm", ["factored", "auto"])
@pytest.mark.parametrize("c", FRONTEND_GRID + FACTORABLE_GRID, ids=config_id)
def test_matches_librosa_stft(c, algorithm):
    x = torch.from_numpy(waveform(c["length"], c["seed"])).float()
    ref = _librosa_stft(x.double().numpy(), c)
    spec = _spectrogram(c, algorithm, power=None)
    out = spec(x)
    assert out.shape == ref.shape + (2,)
    assert rel_l2(out[..., 0] + 1j * out[..., 1], ref) < TOLERANCE
    assert rel_l2(_spectrogram(c, algorithm, power=2)(x), np.abs(ref) ** 2) < TOLERANCE
    if algorithm == "auto":  # the exported route of "auto" is the graph module; check it too
        with torch.no_grad():
            padded = torch.nn.functional.pad(x.reshape(1, 1, -1), (c["n_fft"] // 2,) * 2, mode=c["pad_mode"]) \
                if c["center"] else x.reshape(1, 1, -1)
            graph = spec.dft.graph(padded).reshape(2, -1, ref.shape[-1]).double().numpy()
        assert rel_l2(graph[0] + 1j * graph[1], ref) < TOLERANCE


@pytest.mark.parametrize("c", FACTORABLE_GRID, ids=config_id)
def test_equals_direct_in_float64(c):
    """Same numbers as the direct convolution: with float64 kernels only rounding of the float32 constants remains."""
    x = torch.from_numpy(waveform(c["length"], c["seed"], batch=(2,)))
    direct = _spectrogram(c, "direct", power=None).double()
    factored = _spectrogram(c, "factored", power=None).double()
    assert rel_l2(factored(x), direct(x)) < 1e-6


def test_falls_back_to_direct_where_phases_do_not_split():
    w = functional.get_window("hann", 512)
    assert factored_radix(512, 100) is None  # hop not a multiple of 8
    assert factored_radix(511, 256) is None  # odd n_fft
    assert factored_radix(56, 8) is None  # 7 taps per phase at most: too small
    assert factored_radix(512, 256) == 16 and factored_radix(520, 8) == 8
    assert isinstance(Spectrogram(n_fft=512, hop_length=100, algorithm="factored").dft, DirectDFT)
    assert isinstance(Spectrogram(n_fft=511, hop_length=256, algorithm="auto").dft.graph, DirectDFT)
    with pytest.raises(ValueError, match="divisible"):
        FactoredDFT(512, 100, w)


def test_trainable_needs_direct_kernels():
    assert isinstance(Spectrogram(n_fft=256, hop_length=64, trainable=True, algorithm="auto").dft, DirectDFT)
    with pytest.raises(ConfigError, match="trainable"):
        Spectrogram(n_fft=256, hop_length=64, trainable=True, algorithm="factored")


@pytest.mark.parametrize("algorithm", ["auto", "auto-direct"])
def test_auto_is_torch_stft_in_eager_mode_and_a_plain_graph_when_traced(algorithm):
    spec = Spectrogram(n_fft=256, hop_length=64, algorithm=algorithm, power=None)
    x = torch.randn(2, 3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(spec, x)
    ops = [node.kind() for node in traced.inlined_graph.nodes()]
    assert "aten::stft" not in ops and "aten::_convolution" in ops
    # "auto": the factored DFT (a phase Conv, a combine, bins reordered); "auto-direct": one
    # convolution over the padded audio and no reordering.
    assert ("aten::index_select" in ops) == (algorithm == "auto")
    if algorithm == "auto-direct":
        assert ops.count("aten::_convolution") == 1
    torch.testing.assert_close(traced(x), spec(x), rtol=1e-4, atol=1e-4)


def test_auto_dft_refuses_an_unknown_graph():
    with pytest.raises(ConfigError, match="graph must be"):
        AutoDFT(256, 64, np.hanning(256), graph="fft")


@pytest.mark.parametrize("algorithm", ["factored", "auto"])
def test_batch_invariance(algorithm):
    spec = Spectrogram(n_fft=512, hop_length=128, algorithm=algorithm, power=None)
    x = torch.from_numpy(waveform(6000, 3, batch=(5,))).float()
    together = spec(x)
    for i in range(5):
        alone = spec(x[i : i + 1])[0]
        torch.testing.assert_close(together[i], alone, rtol=1e-5, atol=1e-5 * float(alone.abs().max()))


def _export(module: torch.nn.Module, example: torch.Tensor, path) -> onnx.ModelProto:
    dims = {0: torch.export.Dim("batch", min=1, max=1024), 1: torch.export.Dim("time", min=1024, max=2_000_000)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (example,), dynamo=True, opset_version=18, dynamic_shapes=(dims,),
                                    input_names=["audio"], output_names=["features"], verbose=False)
    program.save(str(path))
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return model


# Ops TensorRT takes without plugins; an STFT/DFT op or a loop would fail this.
PLAIN_OPS = {"Pad", "Reshape", "Transpose", "Conv", "MatMul", "Mul", "Add", "Slice", "Concat", "Shape", "Gather",
             "Div", "Squeeze", "Unsqueeze", "ReduceSum", "Log", "Clip", "Max", "Min", "Cast", "Constant", "Sub",
             "ReduceMax", "Sqrt", "Pow", "Expand", "Range", "Split", "Mod"}


@pytest.mark.filterwarnings("ignore:Empty filters")
def test_mel_exports_to_plain_ops_and_runs_in_onnxruntime(tmp_path):
    """One export ("auto" exports the factored graph; an export takes seconds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty mel filters at 128 mels
        module = MelSpectrogram(sample_rate=32000, n_fft=512, hop_length=256, n_mels=128, algorithm="auto").eval()
    model = _export(module, torch.randn(2, 8000), tmp_path / "logmel.onnx")
    ops = {node.op_type for node in model.graph.node}
    assert ops <= PLAIN_OPS, ops - PLAIN_OPS
    (conv,) = [node for node in model.graph.node if node.op_type == "Conv"]
    assert onnx.helper.get_attribute_value(next(a for a in conv.attribute if a.name == "group")) == 16
    session = ort.InferenceSession(str(tmp_path / "logmel.onnx"), providers=["CPUExecutionProvider"])
    x = torch.from_numpy(waveform(12345, 9, batch=(3,))).float()  # unseen batch and length
    (actual,) = session.run(None, {"audio": x.numpy()})
    ref = librosa.feature.melspectrogram(y=x.double().numpy(), sr=32000, n_fft=512, hop_length=256, n_mels=128,
                                         htk=True, pad_mode="reflect", norm=None)
    assert rel_l2(actual, ref) < TOLERANCE
    # The graph pads the right edge to a multiple of the 16 phases itself: every residue of the length.
    for length in range(8000, 8016):
        y = waveform(length, length, batch=(1,))
        (actual,) = session.run(None, {"audio": y.astype(np.float32)})
        ref = librosa.feature.melspectrogram(y=y.astype(np.float64), sr=32000, n_fft=512, hop_length=256,
                                             n_mels=128, htk=True, pad_mode="reflect", norm=None)
        assert actual.shape == ref.shape and rel_l2(actual, ref) < TOLERANCE, length


@pytest.mark.parametrize("make", [
    lambda: functional.mel_filterbank(sample_rate=32000, n_fft=512, n_mels=128),
    lambda: functional.mel_filterbank(sample_rate=16000, n_fft=400, n_mels=40, norm="slaney", mel_scale="slaney"),
    lambda: functional.log_filterbank(sample_rate=22050, n_fft=2048, n_bins=84),
    lambda: functional.linear_filterbank(sample_rate=8000, n_fft=256, n_bins=20),
    lambda: np.random.default_rng(0).uniform(size=(65, 12)),  # dense: one block
], ids=["mel-htk", "mel-slaney", "log", "linear", "dense"])
def test_band_blocks_cover_every_weight_and_project_like_dense(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        w = make()
    blocks = band_blocks(w)
    covered = np.zeros(w.shape, dtype=bool)
    assert [b[0] for b in blocks] == [0] + [b[1] for b in blocks[:-1]] and blocks[-1][1] == w.shape[1]
    for first, end, lo, hi in blocks:
        covered[lo:hi, first:end] = True
    assert not np.any((w != 0) & ~covered)
    x = torch.from_numpy(np.random.default_rng(1).uniform(size=(2, w.shape[0], 7)))
    expected = w.T @ x.numpy()
    actual = block_project(torch.from_numpy(w), x, blocks, dense_below=0).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


def test_mel_scale_is_block_sparse_and_reloads_weights():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mel = MelScale(n_mels=128, sample_rate=32000, n_stft=257)
    blocks = mel._blocks
    assert 1 < len(blocks) and sum((e - f) * (h - lo) for f, e, lo, h in blocks) < mel.fb.numel() // 4
    dense = Filterbank(np.random.default_rng(2).uniform(size=(257, 128)))
    mel.load_state_dict(dense.state_dict())  # weights with no band: the blocks must follow
    x = torch.rand(1, 257, 4100)  # over a million elements: the block route, also in eager mode
    torch.testing.assert_close(mel(x), dense.fb.t() @ x)


@pytest.mark.parametrize("algorithm", ["direct", "factored", "auto", "auto-direct"])
@pytest.mark.parametrize("power", [2.0, 1.0, None])
def test_empty_batch_gives_empty_output_of_the_right_shape(algorithm, power):
    spec = Spectrogram(n_fft=512, hop_length=256, power=power, algorithm=algorithm)
    out = spec(torch.zeros(0, 3, 4000))
    expected = (0, 3, 257, spec.frames(4000)) + (() if power is not None else (2,))
    assert tuple(out.shape) == expected


@pytest.mark.parametrize("c", FACTORABLE_GRID[:4], ids=config_id)
def test_energy_is_the_squared_bins_of_forward(c):
    """FactoredDFT.energy (the exported power route) squares before dropping bins: same numbers as forward."""
    window = functional.pad_window(functional.get_window("hann", c["win_length"]), c["n_fft"])
    dft = FactoredDFT(c["n_fft"], c["hop_length"], window).double()
    x = torch.from_numpy(waveform(c["length"] + c["n_fft"], c["seed"], batch=(3,))).reshape(3, 1, -1)
    y = dft(x).reshape(3, 2, dft.n_freq, -1)
    torch.testing.assert_close(dft.energy(x), (y * y).sum(dim=1), rtol=1e-12, atol=1e-12)
    assert dft.energy(x[:0]).shape == (0, dft.n_freq, y.shape[-1])
