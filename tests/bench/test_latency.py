"""`audiofront bench` in miniature: the training experiment at tiny sizes, the timing loop, the target rule.

The benchmark's numbers are not asserted (speed is shown by the benchmark, not by tests).
"""

from __future__ import annotations

import json
import math

from audiofront.cli import main
from audiofront.bench.report import (check_shapes, check_target, latency_table, shapes_table, training_table,
                                     workload_table)
from audiofront.bench.timing import summarize, time_interleaved


def test_quick_training_experiment_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--skip-latency", "--no-progress", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["training"]
    assert set(result["runs"]) == {"audio in", "spectrograms in"}
    assert result["device"] == "cpu" and result["batch"] == 2
    for run in result["runs"].values():
        assert run["step_median_s"] > 0 and math.isclose(run["total_s"], run["epoch_s"] * result["epochs"])
    assert math.isfinite(result["overhead"])
    assert "Front-end's share of training time" in capsys.readouterr().out


def test_time_interleaved_runs_rounds_in_turn_and_drops_warmup():
    calls = []
    contenders = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    times = time_interleaved(contenders, repeats=3, warmup=2)
    assert calls == ["a", "b", "c"] * 5
    assert {name: len(t) for name, t in times.items()} == {"a": 3, "b": 3, "c": 3}
    calls.clear()
    times = time_interleaved(contenders, repeats=2, warmup=1, settle=True)
    # Settled: each timed call follows an untimed call of the same contender; warm-up rounds run once.
    assert calls == ["a", "b", "c"] + ["a", "a", "b", "b", "c", "c"] * 2
    assert {name: len(t) for name, t in times.items()} == {"a": 2, "b": 2, "c": 2}
    stats = summarize([0.001, 0.002, 0.003, 0.010])
    assert stats["median_ms"] == 2.5 and stats["min_ms"] == 1.0 and stats["runs"] == 4
    assert 3.0 < stats["p90_ms"] <= 10.0


def test_settled_timing_leaves_out_the_cost_of_switching_from_another_contender():
    import time

    last = [None]

    def contender(name):
        def call():
            if last[0] != name:  # like cores left spinning or caches filled by the previous library
                time.sleep(0.02)
            last[0] = name
        return call

    contenders = {name: contender(name) for name in ("a", "b")}
    plain = time_interleaved(contenders, repeats=3, warmup=1)
    settled = time_interleaved(contenders, repeats=3, warmup=1, settle=True)
    assert min(min(t) for t in plain.values()) >= 0.02
    assert max(max(t) for t in settled.values()) < 0.01


def _row(name, backend, family, ms, *, best=None, batch=16, clip_s=30.0):
    best = ms * 0.9 if best is None else best
    return {"name": name, "backend": backend, "family": family, "task": "frontend", "batch": batch, "clip_s": clip_s,
            "median_ms": ms, "p90_ms": ms * 1.1, "min_ms": best}


OURS = "audiofront log-mel ONNX, factored DFT"


def test_target_is_035_of_the_fastest_cpu_peer_on_minima():
    peers = [_row("librosa melspectrogram + power_to_db", "numpy", "peer", 200.0),
             _row("torch.stft + re*re+im*im + mel", "torch-cpu", "peer", 150.0, best=100.0),
             _row("torch.stft + abs()**2 + mel", "torch-cuda", "peer", 1.0)]  # a GPU peer is not a CPU rival
    ours = _row(OURS, "onnxruntime-cpu", "audiofront", 40.0, best=35.0)
    result = check_target([ours] + peers)
    assert result["met"] and result["fastest_peer"].startswith("torch.stft + re*re")
    assert math.isclose(result["ratio_min"], 0.35) and math.isclose(result["ratio_median"], 40.0 / 150.0)
    # Minima decide: a good median does not rescue a slow best round.
    result = check_target([dict(ours, min_ms=36.0)] + peers)
    assert result["beats_every_peer"] and not result["met"]
    assert "ours_ms" not in check_target(peers) and not check_target(peers)["met"]
    assert "| 40.0 | 35.0 | 44.0 |" in workload_table([ours] + peers)


def test_every_shape_is_checked_against_its_own_fastest_peer():
    rows = [_row(OURS, "onnxruntime-cpu", "audiofront", 1.0, best=0.6, batch=1, clip_s=1.0),
            _row("torch.stft + re*re+im*im + mel", "torch-cpu", "peer", 0.9, best=0.4, batch=1, clip_s=1.0),
            _row(OURS, "onnxruntime-cpu", "audiofront", 50.0, best=45.0),
            _row("librosa melspectrogram + power_to_db", "numpy", "peer", 200.0, best=190.0)]
    checks = check_shapes(rows)
    assert [(c["batch"], c["clip_s"], c["ok"]) for c in checks] == [(1, 1.0, False), (16, 30.0, True)]
    assert "| 1 x 1 s | 0.60 | torch.stft + re*re+im*im + mel | 0.40 | 1.50 | no |" in shapes_table(checks)
    assert "| 0.90 / 0.40 |" in latency_table(rows, task="frontend")


def test_training_table():
    table = training_table({"runs": {"audio in": {"step_median_s": 1.2, "step_p90_s": 1.3, "total_s": 2.4}},
                            "overhead": 0.2, "overhead_median": 0.2, "device": "cpu", "batch": 16, "seconds": 30.0,
                            "batches_per_epoch": 2, "epochs": 1, "threads": 2})
    assert "+20.0 %" in table


def test_stft_peer_module_matches_librosa():
    """The module the ONNX-STFT peer exports (its export runs in `audiofront bench`: minutes here, too slow for CI)."""
    import librosa
    import numpy as np
    import torch

    from audiofront.bench.latency import HOP, N_FFT, N_MELS, SAMPLE_RATE, _TorchStftLogmel

    audio = (np.random.default_rng(3).standard_normal((3, 5000)) * 0.1).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=audio.astype(np.float64), sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP,
                                         n_mels=N_MELS, htk=True, norm=None, pad_mode="reflect")
    expected = 10 * np.log10(np.maximum(mel, 1e-10))
    with torch.no_grad():
        actual = _TorchStftLogmel.build()(torch.from_numpy(audio)).numpy()
    assert actual.shape == expected.shape and np.abs(actual - expected).max() < 1e-2
