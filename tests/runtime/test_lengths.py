"""How Pipeline fits clips to its model (runtime/lengths.py): a graph that pads or trims its own
frames gets short clips unpadded and long clips truncated, equal to its torch module run on the
clip itself; other graphs keep zero-padded samples and averaged windows; items of different
lengths never share a call; the option is checked and reported, in the API, the stream and the CLI.

Reference: the torch module the fixed-length graph was exported from (``fixed_length_parts``,
tests/artifacts.py), run on each clip alone at its own length (its PadTrim pads frames).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from audiofront.errors import ConfigError, InputError
from audiofront.export.metadata import clip_for_frames
from audiofront.runtime import LONG_CLIPS, LengthPolicy, Pipeline, frame_windows, window_starts
from audiofront.runtime.lengths import group_by_width, length_policy
from tests.artifacts import FIXED_CLIP, FIXED_FRAMES, FIXED_LABELS, FIXED_MIN

from .conftest import CLIP, SAMPLE_RATE

TOL = dict(rtol=0, atol=2e-6)
# Lengths around the graph's minimum, its fixed length and beyond; 1 and 100 are under the minimum.
LENGTHS = (1, 100, FIXED_MIN - 1, FIXED_MIN, FIXED_MIN + 1, 1999, FIXED_CLIP - 1, FIXED_CLIP, FIXED_CLIP + 1,
           3 * FIXED_CLIP + 17)


def _clip(length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * (200 + 40 * seed) * t) + 0.05 * rng.standard_normal(length)).astype(np.float32)


def _reference(module, audio: np.ndarray) -> np.ndarray:
    """Softmax of the torch module on one clip as it is given (at least the minimum, zero-padded to it)."""
    if audio.size < FIXED_MIN:
        audio = np.pad(audio, (0, FIXED_MIN - audio.size))
    with torch.no_grad():
        return torch.softmax(module(torch.from_numpy(audio)[None]).double(), -1)[0].numpy()


@pytest.fixture(scope="module")
def fixed(fixed_length_parts):
    with Pipeline.load(fixed_length_parts[0], backend="onnxruntime-cpu") as p:
        yield p


def test_a_graph_that_fixes_its_own_frames_is_recognised(fixed, onnx_pipeline, torch_pipeline):
    assert fixed.lengths == LengthPolicy(FIXED_CLIP, "truncate", True, FIXED_MIN)
    assert fixed.long_clips == "truncate" and "long_clips='truncate'" in repr(fixed)
    # Ordinary pipelines (fixed time axis, no fixed length in their metadata) keep windows and padding.
    for p in (onnx_pipeline, torch_pipeline):
        assert p.lengths == LengthPolicy(CLIP, "windows", False, 1) and p.long_clips == "windows"
    assert LONG_CLIPS == ("windows", "truncate")


@pytest.mark.parametrize("meta, time_dim, min_time, want", [
    ({}, None, None, ("windows", False, 1)),
    ({"fixed_frames": "24", "frames": "1 + (time - 256) // 128"}, None, None, ("truncate", True, 256)),
    # Samples padded before framing (Whisper, CLAP): any length goes in.
    ({"fixed_samples": "3200", "frames": "time // 160"}, None, None, ("truncate", True, 1)),
    ({"fixed_frames": "24", "frames": "1 + (time - 256) // 128"}, 3200, None, ("windows", False, 1)),  # static time
    ({"fixed_frames": "24", "frames": "1 + (time - 256) // 128", "streaming": "true"}, None, None, ("windows", False, 1)),
    # A TensorRT profile that starts above the graph's own minimum raises it; one at the clip length rules it out.
    ({"fixed_frames": "24", "frames": "1 + (time - 256) // 128"}, None, 1000, ("truncate", True, 1000)),
    ({"fixed_samples": "3200"}, None, 3200, ("windows", False, 1)),
])
def test_policy_follows_the_metadata_and_the_input_spec(meta, time_dim, min_time, want):
    meta = {f"audiofront.{k}": v for k, v in meta.items()}
    policy = length_policy(meta, 3200, time_dim=time_dim, min_time=min_time)
    assert (policy.long_clips, policy.fixes_own_length, policy.min_samples) == want
    for choice in LONG_CLIPS:  # the option overrides the default, nothing else
        other = length_policy(meta, 3200, time_dim=time_dim, min_time=min_time, long_clips=choice)
        assert (other.long_clips, other.fixes_own_length, other.min_samples) == (choice, *want[1:])
    if "frames" in meta and "fixed_samples" not in meta and want[1]:
        assert policy.min_samples >= clip_for_frames(meta["audiofront.frames"], 1)


@pytest.mark.parametrize("own", [False, True])
@pytest.mark.parametrize("long_clips", LONG_CLIPS)
def test_fit_pads_truncates_or_windows(own, long_clips):
    policy = LengthPolicy(FIXED_CLIP, long_clips, own, FIXED_MIN if own else 1)
    for length in LENGTHS:
        audio = _clip(length, 1)
        rows = policy.fit(audio, hop=1000)
        assert rows.dtype == np.float32 and rows.ndim == 2
        if length > FIXED_CLIP and long_clips == "windows":
            np.testing.assert_array_equal(rows, frame_windows(audio, FIXED_CLIP, 1000))
            assert len(rows) == len(window_starts(length, FIXED_CLIP, 1000))
            continue
        width = FIXED_CLIP if not own or length >= FIXED_CLIP else max(length, FIXED_MIN)
        assert rows.shape == (1, width), (length, rows.shape)
        kept = min(length, FIXED_CLIP)
        np.testing.assert_array_equal(rows[0, :kept], audio[:kept])
        assert not rows[0, kept:].any()
        assert policy.accepts(width) and policy.answer_rows(5) == (1 if long_clips == "truncate" else 5)


def test_policy_and_option_are_checked(fixed_length_parts, modules):
    path = fixed_length_parts[0]
    for bad in ("first", "", "WINDOWS", 1, True):
        with pytest.raises(ConfigError, match=r"long_clips must be one of \['windows', 'truncate'\]"):
            Pipeline.load(path, backend="onnxruntime-cpu", long_clips=bad)
    with pytest.raises(ConfigError, match="long_clips must be one of"):
        Pipeline.from_torch(*modules, labels=["a", "b", "c", "d", "e"], clip_samples=CLIP, long_clips="average")
    with pytest.raises(ConfigError, match=r"min_samples must be an integer in \[1, clip_samples = 100\]"):
        LengthPolicy(100, "windows", True, 101)
    with pytest.raises(ConfigError, match="clip_samples"):
        LengthPolicy(0)
    with pytest.raises(ConfigError, match="long_clips"):
        LengthPolicy(100, "average")


def test_predict_takes_the_widths_the_graph_takes(fixed, onnx_pipeline, fixed_length_parts):
    x = np.stack([_clip(FIXED_MIN + 44, 2), _clip(FIXED_MIN + 44, 3)])
    np.testing.assert_allclose(fixed.predict(x), np.stack([_reference(fixed_length_parts[1], r) for r in x]), **TOL)
    for width in (FIXED_MIN - 1, FIXED_CLIP + 1):
        with pytest.raises(InputError, match=rf"shape \(batch, {FIXED_MIN} to {FIXED_CLIP}\)"):
            fixed.predict(np.zeros((2, width), np.float32))
    with pytest.raises(InputError, match=rf"shape \(batch, {CLIP}\)"):
        onnx_pipeline.predict(np.zeros((1, CLIP - 1), np.float32))


@pytest.mark.parametrize("max_batch_size", [1, 3, 32])
def test_mixed_lengths_in_one_call_equal_each_clip_alone_and_the_torch_module(fixed_length_parts, max_batch_size):
    path, module = fixed_length_parts
    clips = [_clip(n, i) for i, n in enumerate(LENGTHS)]
    clips += [clips[3].copy(), clips[6].copy()]  # equal widths share a call
    with Pipeline.load(path, backend="onnxruntime-cpu", max_batch_size=max_batch_size) as p:
        together = p.classify(clips, sample_rate=SAMPLE_RATE, top_k=2)
        alone = [p.classify([c], top_k=2)[0] for c in clips[:4]]
    for clip, got in zip(clips, together):
        assert got.ok, got.error
        np.testing.assert_allclose(got.probabilities, _reference(module, clip[:FIXED_CLIP]), **TOL)
        assert got.windows == 1 and got.truncated == (clip.size > FIXED_CLIP)
        assert got.top[0][0] == FIXED_LABELS[int(np.argmax(got.probabilities))]
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=0, atol=1e-7)
    assert json.loads(json.dumps(together[-3].to_dict()))["truncated"] is True


def test_short_clips_are_not_padded_in_samples(fixed, fixed_length_parts):
    # The graph pads frames: zeros appended to the audio would be frames of silence instead.
    module = fixed_length_parts[1]
    clip = _clip(FIXED_CLIP - 300, 4)
    got = fixed.classify([clip])[0].probabilities
    padded = _reference(module, np.pad(clip, (0, 300)))
    assert np.abs(got - _reference(module, clip)).max() < 2e-6 < np.abs(got - padded).max()


def test_windows_option_averages_exact_windows_on_a_fixed_length_graph(fixed_length_parts):
    path, module = fixed_length_parts
    clip = _clip(3 * FIXED_CLIP + 17, 5)
    with Pipeline.load(path, backend="onnxruntime-cpu", long_clips="windows", hop=1000) as p:
        got = p.classify([clip, clip[:900]])
    want = np.mean([_reference(module, w) for w in frame_windows(clip, FIXED_CLIP, 1000)], axis=0)
    np.testing.assert_allclose(got[0].probabilities, want, **TOL)
    assert got[0].windows == len(window_starts(clip.size, FIXED_CLIP, 1000)) and not got[0].truncated
    np.testing.assert_allclose(got[1].probabilities, _reference(module, clip[:900]), **TOL)  # short: still unpadded


def test_truncate_option_on_an_ordinary_pipeline(artifacts, onnx_pipeline, noise):
    clip = noise(1, 3 * CLIP + 5, seed=7)[0]
    with Pipeline.load(artifacts["pipeline"], backend="onnxruntime-cpu", long_clips="truncate") as p:
        got, short = p.classify([clip, clip[:999]])
        assert p.lengths.fixes_own_length is False
    np.testing.assert_allclose(got.probabilities, onnx_pipeline.predict(clip[None, :CLIP])[0], rtol=0, atol=1e-6)
    assert got.windows == 1 and got.truncated
    # A short clip on a fixed-length graph is zero-padded in samples as before.
    padded = np.pad(clip[:999], (0, CLIP - 999))[None]
    np.testing.assert_allclose(short.probabilities, onnx_pipeline.predict(padded)[0], rtol=0, atol=1e-6)
    default = onnx_pipeline.classify([clip])[0]
    assert default.windows == len(window_starts(clip.size, CLIP)) and not default.truncated


def test_group_by_width_keeps_first_seen_order():
    rows = [np.zeros((1, 5)), np.zeros((2, 7)), np.zeros((3, 5)), np.zeros((1, 9))]
    assert group_by_width(rows) == {5: [0, 2], 7: [1], 9: [3]}


@pytest.mark.parametrize("length", [120, FIXED_CLIP - 1, FIXED_CLIP, 2 * FIXED_CLIP + 333])
@pytest.mark.parametrize("long_clips", LONG_CLIPS)
def test_stream_answers_as_classify(fixed_length_parts, length, long_clips):
    path, _ = fixed_length_parts
    audio = np.stack([_clip(length, 8), _clip(length, 9)])
    with Pipeline.load(path, backend="onnxruntime-cpu", long_clips=long_clips, hop=700) as p:
        offline = p.classify(list(audio))
        stream = p.stream()
        answered = []
        for start in range(0, length, 611):
            answered += stream.push(audio[:, start:start + 611])
        answered += stream.flush()
        live = stream.classifications()
    for a, b in zip(live, offline):
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=0, atol=1e-6)
        assert (a.windows, a.truncated) == (b.windows, b.truncated)
    # Every window is answered as it completes, even those a truncating answer leaves out.
    starts = window_starts(length, FIXED_CLIP, 700)
    assert sorted({r.start for r in answered}) == starts and len(answered) == 2 * len(starts)


def test_classify_cli_reports_the_policy(fixed_length_parts, tmp_path, capsys):
    from audiofront.cli import main

    path, module = fixed_length_parts
    files = []
    for n in (900, 2 * FIXED_CLIP):
        files.append(str(tmp_path / f"clip{n}.wav"))
        sf.write(files[-1], _clip(n, 10), SAMPLE_RATE, subtype="FLOAT")
    argv = ["classify", "--model", str(path), "--backend", "onnxruntime-cpu", "--top-k", "4", "--json", "--verbose"]
    assert main(argv + files) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert [(e["windows"], e["truncated"]) for e in doc["results"]] == [(1, False), (1, True)]
    for entry, n in zip(doc["results"], (900, 2 * FIXED_CLIP)):
        want = _reference(module, _clip(n, 10)[:FIXED_CLIP])
        got = {t["label"]: t["probability"] for t in entry["top"]}
        np.testing.assert_allclose([got[k] for k in FIXED_LABELS], want, rtol=0, atol=1e-5)
    assert "long clips: truncate (default)" in captured.err and "passed at their own length" in captured.err
    assert main(argv + ["--long-clips", "windows", files[1]]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"][0]["windows"] == len(window_starts(2 * FIXED_CLIP, FIXED_CLIP)) == 3
    with pytest.raises(SystemExit):
        main(argv + ["--long-clips", "first", files[0]])
    assert "invalid choice: 'first'" in capsys.readouterr().err
