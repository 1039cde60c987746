"""`audiofront bench` in miniature: the training experiment at tiny sizes, the timing loop, the target rule.

The benchmark's numbers are not asserted (speed is shown by the benchmark, not by tests).
"""

from __future__ import annotations

import json
import math

from audiofront.cli import main
from audiofront.bench.report import check_target, training_table, workload_table
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
    stats = summarize([0.001, 0.002, 0.003, 0.010])
    assert stats["median_ms"] == 2.5 and stats["min_ms"] == 1.0 and stats["runs"] == 4
    assert 3.0 < stats["p90_ms"] <= 10.0


def _row(name, backend, family, ms):
    return {"name": name, "backend": backend, "family": family, "task": "frontend", "batch": 16, "clip_s": 30.0,
            "median_ms": ms, "p90_ms": ms * 1.1}


def test_target_needs_every_peer_beaten_and_half_of_librosa():
    ours = _row("audiofront log-mel ONNX, factored DFT", "onnxruntime-cpu", "audiofront", 90.0)
    peers = [_row("librosa melspectrogram + power_to_db", "numpy", "peer", 200.0),
             _row("torch.stft + abs()**2 + mel", "torch-cpu", "peer", 150.0)]
    assert check_target([ours] + peers)["met"]
    slower = dict(ours, median_ms=120.0)  # beats the peers but is more than half of librosa
    result = check_target([slower] + peers)
    assert result["beats_every_peer"] and not result["at_most_half_librosa"] and not result["met"]
    assert not check_target([ours, _row("nnAudio", "torch-cpu", "peer", 80.0)] + peers)["met"]
    assert "| audiofront log-mel ONNX, factored DFT | onnxruntime-cpu | 90.0 |" in workload_table([ours] + peers)
    table = training_table({"runs": {"audio in": {"step_median_s": 1.2, "step_p90_s": 1.3, "total_s": 2.4}},
                            "overhead": 0.2, "overhead_median": 0.2, "device": "cpu", "batch": 16, "seconds": 30.0,
                            "batches_per_epoch": 2, "epochs": 1, "threads": 2})
    assert "+20.0 %" in table
