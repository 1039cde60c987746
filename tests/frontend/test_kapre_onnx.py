"""audiofront.frontend.kapre on onnxruntime: every inference layer exported (opset 18, dynamo)
gives Kapre 0.4.1's numbers.

A dynamo export costs seconds, and dynamic axes multiply that (symbolic shapes: a graph of ten
STFT chains with dynamic lengths took ten minutes here), so: one chain with dynamic batch and time
run at other shapes than traced, and two graphs with static shapes holding every other layer, one
output each. The native modules underneath export with dynamic axes in test_onnx_export.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from audiofront.frontend import kapre
from tests.frontend.kapre_refs import TOL, kapre_kwargs, load, rel_l2, wrapped_rel_l2

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")


class Graph(nn.Module):
    """One output per (input index, module)."""

    def __init__(self, parts: list[tuple[int, nn.Module]]):
        super().__init__()
        self.index = [i for i, _ in parts]
        self.parts = nn.ModuleList([m for _, m in parts])

    def forward(self, *inputs):
        return tuple(part(inputs[i]) for i, part in zip(self.index, self.parts))


def _export_run(parts, traced: list[torch.Tensor], feeds: list[list[np.ndarray]], tmp_path, tag, dims=None):
    """Export ``Graph(parts)`` traced on ``traced`` (static shapes unless ``dims`` names dynamic axes) and run ``feeds``."""
    graph = Graph(parts).eval()
    # forward(*inputs): torch.export sees one argument, a tuple, whose shapes are described as a tuple.
    dynamic = None if dims is None else (tuple({axis: torch.export.Dim.DYNAMIC for axis in d} for d in dims),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(graph, tuple(traced), dynamo=True, dynamic_shapes=dynamic, opset_version=18,
                                    input_names=[f"in{i}" for i in range(len(traced))], verbose=False)
    path = tmp_path / f"{tag}.onnx"
    program.save(str(path))
    model = onnx.load(str(path))
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 18
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return [session.run(None, dict(zip(names, feed))) for feed in feeds]


@pytest.mark.slow
def test_melspectrogram_with_dynamic_batch_and_time(tmp_path):
    # Dynamic axes cost export time (symbolic shapes), so one chain has them: STFT, Magnitude,
    # ApplyFilterbank and MagnitudeToDecibel, traced at another batch and length than it runs.
    stft_a, _ = load("stft")
    spec_a, spec_m = load("spectrograms")
    mel = kapre.get_melspectrogram_layer(**kapre_kwargs(spec_m, "mel_paper/db"))
    x = stft_a["paper/x"]
    runs = _export_run([(0, mel)], [torch.randn(3, 3001, 2) * 0.1], [[x], [x[:1, :1777]], [x[..., :1]]], tmp_path,
                       "mel", dims=[{0: 0, 1: 1, 2: 2}])
    assert rel_l2(runs[0][0], spec_a["mel_paper/db"]) <= TOL
    assert rel_l2(runs[1][0], mel(torch.from_numpy(x[:1, :1777])).numpy()) <= TOL
    assert rel_l2(runs[2][0], spec_a["mel_paper/db_mono"]) <= TOL


@pytest.mark.slow
def test_waveform_layers_on_onnxruntime(tmp_path):
    stft_a, stft_m = load("stft")
    spec_a, spec_m = load("spectrograms")
    sig_a, sig_m = load("signal")
    inputs = ("cd441", "speech", "defaults", "kaiser")  # graph inputs, in this order, then signal.npz's x
    parts = [
        (0, kapre.get_stft_magnitude_layer(**kapre_kwargs(stft_m, "cd441/stft_db"))),  # pad_begin, pad_end, vorbis
        (0, kapre.get_log_frequency_spectrogram_layer(**kapre_kwargs(spec_m, "log_cd441/db"))),
        (0, kapre.Energy()),
        (1, kapre.get_stft_mag_phase(**kapre_kwargs(spec_m, "speech/mag_phase"))),  # win 300 < n_fft 400, hamming
        (2, kapre.get_melspectrogram_layer(**kapre_kwargs(spec_m, "mel_defaults/db"))),  # Kapre's defaults
        (3, kapre.get_stft_magnitude_layer(**kapre_kwargs(stft_m, "kaiser/stft_db"))),  # kaiser, pad_begin
        (4, kapre.Frame(**kapre_kwargs(sig_m, "frame_256_100"))),
        (4, kapre.Energy(**kapre_kwargs(sig_m, "energy_args"))),
        (4, kapre.MuLawEncoding(256)),
    ]
    expected = [stft_a["cd441/stft_db"], spec_a["log_cd441/db"], sig_a["energy_default"], None,
                spec_a["mel_defaults/db"], stft_a["kaiser/stft_db"], None, None, None]
    feed = [stft_a[f"{name}/x"] for name in inputs] + [sig_a["x"]]
    run = _export_run(parts, [torch.from_numpy(f) for f in feed], [feed], tmp_path, "waveforms")[0]
    for i, ref in enumerate(expected):
        if ref is not None:
            assert rel_l2(run[i], ref) <= TOL, type(parts[i][1]).__name__
    assert rel_l2(run[3][..., :2], spec_a["speech/mag_phase"][..., :2]) <= TOL  # the magnitude half
    # The phase half modulo 2 pi (a real bin's -0.0 imaginary part makes -pi of pi).
    weight = np.hypot(stft_a["speech/stft"][..., 0], stft_a["speech/stft"][..., 1])
    assert wrapped_rel_l2(run[3][..., 2:], spec_a["speech/mag_phase"][..., 2:], weight) <= 1e-4
    assert rel_l2(run[6], sig_a["frame_256_100"]) <= TOL and rel_l2(run[7], sig_a["energy_args"]) <= TOL
    assert np.array_equal(run[8], kapre.MuLawEncoding(256)(torch.from_numpy(sig_a["x"])).numpy())


def test_spectrogram_layers_on_onnxruntime(tmp_path):
    feat_a, feat_m = load("features")
    stft_a, _ = load("stft")
    istft_a, istft_m = load("istft")
    sig_a, _ = load("signal")
    conv = kapre.get_frequency_aware_conv2d("channels_last", "fa", in_channels=2, filters=4, kernel_size=(3, 3),
                                            padding="same")
    conv.load_keras_weights(feat_a["faconv/kernel"], feat_a["faconv/bias"])
    parts = [
        (0, kapre.Delta(**kapre_kwargs(feat_m, "delta_5_symmetric"))),
        (0, kapre.Delta(**kapre_kwargs(feat_m, "delta_3_reflect"))),
        (0, kapre.Delta(**kapre_kwargs(feat_m, "delta_7_constant"))),
        (0, kapre.LogmelToMFCC(n_mfccs=20)),
        (0, conv),
        (0, kapre.SpecAugment(freq_mask_param=5, time_mask_param=4)),  # eval: the identity, as Kapre's
        (0, kapre.ChannelSwap()),
        (1, kapre.InverseSTFT(**kapre_kwargs(istft_m, "paper/istft"))),
        (1, kapre.Phase(approx_atan_accuracy=20)),
        (1, kapre.Magnitude()),
        (1, kapre.PhaseTflite(approx_atan_accuracy=50)),
        (2, kapre.MuLawDecoding(256)),
        (3, kapre.MagnitudeToDecibel(ref_value=0.5, amin=1e-3, dynamic_range=50.0)),
    ]
    expected = [feat_a["delta_5_symmetric"], feat_a["delta_3_reflect"], feat_a["delta_7_constant"], feat_a["mfcc_20"],
                feat_a["faconv/y"], feat_a["spec"], feat_a["spec"], istft_a["paper/istft"],
                stft_a["paper/phase_approx20"], stft_a["paper/magnitude"], None, sig_a["mulaw_256/decoded"],
                stft_a["paper/magnitude_to_db_args"]]
    feed = [feat_a["spec"], stft_a["paper/stft"], sig_a["mulaw_256/codes"], stft_a["paper/magnitude"]]
    run = _export_run(parts, [torch.from_numpy(f) for f in feed], [feed], tmp_path, "spectrograms")[0]
    for i, ((_, module), ref) in enumerate(zip(parts, expected)):
        if ref is None:
            ref = module(torch.from_numpy(stft_a["paper/stft"])).numpy()
        assert rel_l2(run[i], ref) <= TOL, type(module).__name__
