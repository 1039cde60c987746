"""The reproducers of issue 12 ("export that is right at every shape"), each as a test.

Batch-1 and one-frame samples, short samples with deltas, fixed-length chains, Phase at the
branch cut, metadata of chains that change frames or layout, plain error messages, the
self-check refusing a wrong graph, file modes and temporary files.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from audiofront.errors import ExportError, InputError
from audiofront.export import eval_frames, export_onnx, read_metadata, torch_parity
from audiofront.export.artifacts import atomic_write_bytes, sweep_temporary_files
from audiofront.frontend import (
    MFCC,
    AmplitudeToDB,
    ComputeDeltas,
    FrontEnd,
    MelSpectrogram,
    Phase,
    Spectrogram,
)
from audiofront.frontend.inputs import is_tracing


def _dims(path, which="input"):
    model = onnx.load(str(path))
    value = (model.graph.input if which == "input" else model.graph.output)[0]
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def _ort_equals_torch(path, module, x, atol=1e-3):
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"audio": x.numpy()})[0]
    with torch.no_grad():
        want = module(x).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= atol * max(1.0, float(np.abs(want).max()))
    return got


def test_batch_one_sample_gives_dynamic_batch_and_time(tmp_path):
    # The first call: failed inside torch.export on a guard from the block-sparse mel.
    mel = MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=160, n_mels=64).eval()
    path = export_onnx(mel, tmp_path / "x.onnx", sample_input=torch.randn(1, 16000))
    assert _dims(path) == ["batch", "time"] and _dims(path, "output") == ["batch", 64, "frames"]
    got = _ort_equals_torch(path, mel, torch.randn(3, 24001) * 0.1)
    assert got.shape == (3, 64, 1 + 24001 // 160)


def test_one_frame_uncentred_multichannel_sample(tmp_path):
    spec = nn.Sequential(Spectrogram(n_fft=64, hop_length=16, center=False), ComputeDeltas()).eval()
    path = export_onnx(spec, tmp_path / "s.onnx", sample_input=torch.randn(1, 1, 64), sample_rate=8000)
    assert _dims(path) == ["batch", "channels", "time"]
    got = _ort_equals_torch(path, spec, torch.randn(2, 3, 1000) * 0.1)
    assert got.shape == (2, 3, 33, 1 + (1000 - 64) // 16)
    assert read_metadata(path)["audiofront.output_layout"] == "batch,channels,bins,frames"


def test_short_sample_with_deltas_keeps_frames_dynamic(tmp_path):
    # Was: (126, 64, 1) on ORT for (2, 16000) where torch gives (2, 64, 63).
    fe = FrontEnd(MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=256, n_mels=64), AmplitudeToDB(top_db=80.0),
                  ComputeDeltas(), sample_rate=16000).eval()
    path = export_onnx(fe, tmp_path / "d.onnx", sample_input=torch.randn(1, 300))
    got = _ort_equals_torch(path, fe, torch.randn(2, 16000) * 0.1)
    assert got.shape == (2, 64, 63)


def test_mfcc_declares_a_dynamic_frames_axis(tmp_path):
    mfcc = MFCC(sample_rate=8000, n_mfcc=13, melkwargs={"n_fft": 256, "hop_length": 128, "n_mels": 40}).eval()
    path = export_onnx(mfcc, tmp_path / "m.onnx", sample_input=torch.randn(1, 129))
    assert _dims(path, "output") == ["batch", 13, "frames"]
    _ort_equals_torch(path, mfcc, torch.randn(2, 5000) * 0.1)


def test_fixed_length_mel_chain(tmp_path):
    # dynamic_time=False (a Whisper-style fixed window) failed for every mel chain.
    fe = FrontEnd(MelSpectrogram(sample_rate=8000, n_fft=256, hop_length=80, n_mels=32), AmplitudeToDB(top_db=80.0),
                  sample_rate=8000).eval()
    path = export_onnx(fe, tmp_path / "f.onnx", sample_input=torch.randn(1, 8000), dynamic_time=False)
    assert _dims(path) == ["batch", 8000] and _dims(path, "output") == ["batch", 32, 101]
    _ort_equals_torch(path, fe, torch.randn(3, 8000) * 0.1, atol=2e-3)


def test_phase_agrees_with_torch_at_the_branch_cut(tmp_path):
    chain = nn.Sequential(Spectrogram(n_fft=64, hop_length=16, power=None), Phase()).eval()
    path = export_onnx(chain, tmp_path / "p.onnx", sample_rate=8000)
    x = torch.randn(4, 4000) * 0.1
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"audio": x.numpy()})[0]
    with torch.no_grad():
        want = chain(x).numpy()
        spec = Spectrogram(n_fft=64, hop_length=16, power=None)(x).numpy()
    # DC and Nyquist with a negative real part: +pi on both sides, not -pi on one.
    edge = spec[..., 0][:, [0, -1], :] < 0
    assert edge.sum() > 50
    np.testing.assert_allclose(got[:, [0, -1], :][edge], math.pi, atol=1e-6)
    np.testing.assert_allclose(want[:, [0, -1], :][edge], math.pi, atol=1e-6)
    result = torch_parity(path, chain, sample_rate=8000)
    assert result.ok and result.period == pytest.approx(2 * math.pi) and "mod" in str(result)


class StackFrames(nn.Module):
    """Stacks ``k`` consecutive frames: ``(..., bins, frames) -> (..., k * bins, frames // k)``."""

    def __init__(self, k: int, declare: bool = True):
        super().__init__()
        self.k = k
        if declare:
            self.frames_formula = lambda length: f"({length}) // {k}"

    def forward(self, x):
        frames = x.shape[-1] // self.k * self.k
        x = x[..., :frames]
        x = x.reshape(x.shape[:-1] + (frames // self.k, self.k)).transpose(-1, -2)
        return x.reshape(x.shape[:-3] + (x.shape[-3] * self.k, frames // self.k))


class TimeFirst(nn.Module):
    def forward(self, x):
        return x.transpose(-1, -2)


def test_metadata_follows_frame_stacking_and_layout_steps(tmp_path):
    fe = FrontEnd(MelSpectrogram(sample_rate=8000, n_fft=128, hop_length=32, n_mels=16), StackFrames(3), TimeFirst(),
                  sample_rate=8000).eval()
    path = export_onnx(fe, tmp_path / "stack.onnx")
    meta = read_metadata(path)
    assert meta["audiofront.output_layout"] == "batch,frames,bins" and meta["audiofront.n_bins"] == "48"
    assert meta["audiofront.frames"] == "(1 + (time + 2*64 - 128) // 32) // 3"
    x = torch.randn(2, 3001) * 0.1
    got = _ort_equals_torch(path, fe, x)
    assert got.shape == (2, eval_frames(meta["audiofront.frames"], 3001), 48)


def test_undeclared_frame_change_is_an_error_and_no_file(tmp_path):
    fe = FrontEnd(MelSpectrogram(sample_rate=8000, n_fft=128, hop_length=32, n_mels=16), StackFrames(3, declare=False),
                  sample_rate=8000).eval()
    with pytest.raises(ExportError, match="frames_formula"):
        export_onnx(fe, tmp_path / "bad.onnx")
    assert os.listdir(tmp_path) == []


class TracesDifferently(nn.Module):
    """Right in eager mode, wrong in the graph: the self-check must catch it."""

    sample_rate = 8000

    def __init__(self):
        super().__init__()
        self.spec = Spectrogram(n_fft=64, hop_length=16)

    def forward(self, x):
        y = self.spec(x)
        return y[..., :5] if is_tracing() else y


def test_self_check_refuses_a_graph_that_differs_from_torch(tmp_path):
    with pytest.raises(ExportError, match=r"TracesDifferently.*for an input of shape \("):
        export_onnx(TracesDifferently().eval(), tmp_path / "wrong.onnx")
    assert os.listdir(tmp_path) == []


class BranchesOnLength(nn.Module):
    sample_rate = 8000

    def __init__(self):
        super().__init__()
        self.spec = Spectrogram(n_fft=64, hop_length=16)

    def forward(self, x):
        y = self.spec(x)
        return y * 2 if x.shape[-1] > 5000 else y


def test_self_check_catches_a_branch_the_trace_baked_in(tmp_path):
    # torch.export keeps no guard for this branch: the graph has the branch of the traced length
    # baked in. Only runs at other lengths show it.
    with pytest.raises(ExportError) as info:
        export_onnx(BranchesOnLength().eval(), tmp_path / "b.onnx", sample_input=torch.randn(1, 2000))
    text = str(info.value)
    assert "BranchesOnLength" in text and "(1, 2000)" in text and "for an input of shape" in text
    assert "dynamic_time=False" in text  # what to change
    assert os.listdir(tmp_path) == []


def test_exporter_errors_lose_colour_codes_and_boilerplate():
    from audiofront.export.onnx_export import _exporter_message

    exc = RuntimeError("Failed to export the model with torch.export. \x1b[96mThis is step 1/3\x1b[0m of exporting.\n"
                       "- Modify the model code\n\n## Exception summary\n\n<class 'AssertionError'>: Expected op to be "
                       "'==', got < for time < 167731040/257\n\n(Refer to the full stack trace above for more information.)")
    text = _exporter_message(exc)
    assert "\x1b" not in text and "Modify" not in text
    assert text == "<class 'AssertionError'>: Expected op to be '==', got < for time < 167731040/257"


def test_sample_that_the_module_does_not_take(tmp_path):
    with pytest.raises(InputError, match=r"rank 5"):
        export_onnx(AmplitudeToDB(), tmp_path / "x.onnx", sample_input=torch.rand(1, 2, 3, 4, 5))
    with pytest.raises(InputError, match=r"dynamic_time=False needs a sample_input"):
        export_onnx(AmplitudeToDB(), tmp_path / "x.onnx", dynamic_time=False)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write_bytes(tmp_path / "m.onnx", b"data")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask


def test_temporary_files_of_dead_writers_are_swept(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".m.onnx.{dead_pid}.abcd1234.tmp"
    live = tmp_path / f".m.onnx.{os.getpid()}.efgh5678.tmp"
    other = tmp_path / ".notes.tmp"
    for f in (stale, live, other):
        f.write_bytes(b"x")
    atomic_write_bytes(tmp_path / "m.onnx", b"data")
    assert not stale.exists() and live.exists() and other.exists()
    assert sweep_temporary_files(tmp_path) == []
