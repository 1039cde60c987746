"""Export a streaming front-end: one ONNX graph that runs chunk by chunk and gives the offline frames.

``export_streaming_onnx(frontend, path, chunk_samples=...)`` exports
:class:`~audiofront.frontend.streaming.StreamingStep` (the algorithm
:class:`~audiofront.frontend.streaming.Streaming` runs in torch) with a fixed chunk size
(TensorRT-friendly: every shape but the batch is static) and a dynamic batch of streams.

Graph contract (also in the model's ``audiofront.stream_*`` metadata):

- inputs ``audio_chunk`` ``(batch, chunk_samples)`` float32, ``state`` ``(batch, state_size)``
  float32 (zeros for a new stream; rows are independent streams), ``valid_samples`` ``(batch,)``
  int64: ``chunk_samples`` while a stream runs; at its end the samples of the chunk before the
  end (0 for chunks after it);
- outputs ``features`` ``(batch, bins, chunk_samples // hop)`` (the front-end's layout) and
  ``next_state``, fed back with the next chunk;
- the stream is ``stream_prefix_samples`` zeros followed by the audio (so chunk boundaries fall
  where frames complete); the frames of the ``k``-th call have offline indices
  ``k * frames_per_chunk + stream_first_frame + i``: negative ones (pre-roll) are dropped, and
  after the end, indices from ``frames(total samples)`` on (``audiofront.frames``). Keep calling
  with ``valid_samples = 0`` until that many frames have come.

:class:`audiofront.runtime.streaming.StreamSession` drives it so (any batch, any chunk sizes).

Example::

    >>> from audiofront.frontend import MelSpectrogram
    >>> mel = MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=40)
    >>> path = export_streaming_onnx(mel, tmp_path / "stream.onnx", chunk_samples=320)
    >>> meta = read_metadata(path)
    >>> meta["audiofront.stream_frames_per_chunk"], meta["audiofront.stream_latency_samples"]
    ('2', '201')
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import torch
from torch import nn

from audiofront import __version__
from audiofront.errors import ConfigError, ExportError
from audiofront.export.artifacts import check_and_save
from audiofront.export.metadata import read_metadata, write_metadata
from audiofront.export.onnx_export import DEFAULT_OPSET, _quiet_exporter, _resolve_sample_rate, frontend_metadata
from audiofront.frontend.streaming import StreamingStep, plan_stream

__all__ = ["export_streaming_onnx", "streaming_metadata", "read_metadata", "STREAM_INPUTS", "STREAM_OUTPUTS"]

STREAM_INPUTS = ("audio_chunk", "state", "valid_samples")
STREAM_OUTPUTS = ("features", "next_state")


def streaming_metadata(frontend: nn.Module, plan, *, sample_rate: int, chunk_samples: int, center_start: str) -> dict:
    """The metadata contract of a streaming graph (without the ``audiofront.`` prefix)."""
    with torch.no_grad():
        probe = torch.zeros(1, max(chunk_samples, 4 * plan.hop, plan.latency_samples + plan.hop))
        offline = frontend(probe)
    meta = frontend_metadata(frontend, sample_rate=sample_rate, input_rank=2, output_shape=tuple(offline.shape))
    meta.update({
        "streaming": True,
        "stream_chunk_samples": chunk_samples,
        "stream_hop": plan.hop,
        "stream_frames_per_chunk": chunk_samples // plan.hop,
        "stream_state_size": plan.state_size,
        "stream_state": plan.describe_state(),
        "stream_prefix_samples": plan.prefix,
        "stream_first_frame": plan.first_frame,
        "stream_latency_samples": plan.latency_samples,
        "stream_center_start": center_start,
        "stream_inputs": ",".join(STREAM_INPUTS),
        "stream_outputs": ",".join(STREAM_OUTPUTS),
        "stream_steps": [
            {"name": st.spec.name, "window": st.spec.window, "hop": st.spec.hop, "pad_left": st.spec.pad_left,
             "pad_right": st.spec.pad_right, "left_mode": st.left_mode, "right_mode": st.right_mode}
            for st in plan.stages
        ],
    })
    return meta


def export_streaming_onnx(
    frontend: nn.Module,
    path: str | os.PathLike,
    *,
    chunk_samples: int,
    sample_rate: int | None = None,
    center_start: str = "reflect",
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export ``frontend`` as a streaming graph ``(audio_chunk, state, valid_samples) -> (features, next_state)``.

    ``chunk_samples`` is fixed (a positive multiple of the front-end's hop, e.g. 160, 320 or 1600
    at hop 160 for 10/20/100 ms at 16 kHz); the batch of streams is dynamic. ``center_start`` as
    in :class:`~audiofront.frontend.streaming.Streaming`. Raises :class:`ConfigError` for bad
    arguments or a front-end that cannot stream (saying why), :class:`ExportError` when export fails.
    """
    path = Path(path)
    plan = plan_stream(frontend, center_start=center_start)
    if isinstance(chunk_samples, bool) or not isinstance(chunk_samples, int) or chunk_samples < plan.hop \
            or chunk_samples % plan.hop:
        raise ConfigError(f"chunk_samples must be a positive multiple of the front-end's hop ({plan.hop} samples: "
                          f"{plan.hop}, {2 * plan.hop}, ...), got {chunk_samples!r}")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 18 <= opset <= onnx.defs.onnx_opset_version():
        raise ConfigError(f"opset must be an integer in [18, {onnx.defs.onnx_opset_version()}], got {opset!r}")
    rate = _resolve_sample_rate(frontend, sample_rate)
    step = StreamingStep(frontend, plan)
    was_training = frontend.training
    frontend.eval()
    try:
        batch = 2
        chunk = torch.randn(batch, chunk_samples, generator=torch.Generator().manual_seed(0)) * 0.1
        state = step.initial_state(batch)
        valid = torch.full((batch,), chunk_samples, dtype=torch.int64)
        meta = streaming_metadata(frontend, plan, sample_rate=rate, chunk_samples=chunk_samples, center_start=center_start)
        dim = torch.export.Dim("batch", min=1)
        try:
            with _quiet_exporter(), torch.no_grad():
                program = torch.onnx.export(
                    step, (chunk, state, valid), dynamo=True, input_names=list(STREAM_INPUTS),
                    output_names=list(STREAM_OUTPUTS), dynamic_shapes=({0: dim}, {0: dim}, {0: dim}),
                    opset_version=opset, optimize=True, verbose=False,
                )
            model = program.model_proto
        except Exception as exc:
            raise ExportError(f"cannot export the streaming {type(frontend).__name__} to {str(path)!r}: "
                              f"{type(exc).__name__}: {exc}") from exc
    finally:
        frontend.train(was_training)
    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise ExportError(f"cannot export to {str(path)!r} at opset {opset}: the exporter produced opset {written}")
    names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    if names != (list(STREAM_INPUTS), list(STREAM_OUTPUTS)):
        raise ExportError(f"cannot export to {str(path)!r}: graph has inputs {names[0]} and outputs {names[1]}, "
                          f"expected {list(STREAM_INPUTS)} and {list(STREAM_OUTPUTS)}")
    model.producer_name, model.producer_version = "audiofront", __version__
    model.doc_string = f"audiofront streaming front-end {getattr(frontend, 'name', type(frontend).__name__)}"
    write_metadata(model, meta, replace=True)
    return check_and_save(model, path, what=f"the streaming graph exported for {str(path)!r}")
