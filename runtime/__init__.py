"""audiofront.runtime: one Pipeline over TensorRT, ONNX Runtime (CUDA/CPU) and PyTorch.

Names load on first use (PEP 562 ``__getattr__``), so ``import audiofront.runtime`` imports no
backend: onnxruntime, tensorrt and torch are imported only when a runner for them is made,
activated or probed, and this package runs ONNX and TensorRT pipelines without torch installed.

- :class:`Pipeline`, :class:`Classification` — audio in, labels out (:mod:`.pipeline`)
- runners (Polygraphy's ``activate`` / ``infer(dict) -> dict`` / ``deactivate``):
  :class:`TorchRunner`, :class:`OnnxRuntimeRunner`, :class:`TensorRTRunner`, base :class:`Runner`
- :func:`available_backends`, :func:`choose_backend`, :func:`register_backend` — the backend
  registry: what runs here and why (:mod:`.backends`; one file per backend, ``*_runner.py``)
- :class:`FrontEndClassifier` (torch composition, from :mod:`audiofront.export.classifier`)
- :func:`load_audio`, :func:`prepare_audio` and friends (:mod:`.audio`)
- :class:`LengthPolicy`, :data:`LONG_CLIPS` — how short and long clips are fitted to the model
  (:mod:`.lengths`: a reference preset's graph pads or trims like its extractor)
- :class:`StreamSession` (a streaming front-end graph, chunk by chunk), :class:`PipelineStream`
  (``Pipeline.stream()``: answers per hop) (:mod:`.streaming`)

Example::

    >>> from audiofront.runtime import Pipeline
    >>> with Pipeline.load("piano.onnx") as p:
    ...     print(p.backend, p.classify(["note.wav"])[0].top)
"""

from __future__ import annotations

from audiofront.lazy import lazy_exports

_EXPORTS = {
    "Pipeline": "pipeline",
    "Classification": "pipeline",
    "FrontEndClassifier": "audiofront.export.classifier",
    "FEATURE_LAYOUTS": "pipeline",
    "Runner": "runner",
    "RunnerError": "runner",
    "TensorSpec": "runner",
    "TorchRunner": "torch_runner",
    "OnnxRuntimeRunner": "onnxruntime_runner",
    "TensorRTRunner": "tensorrt_runner",
    "Backend": "backends",
    "register_backend": "backends",
    "unregister_backend": "backends",
    "get_backend": "backends",
    "registered_backends": "backends",
    "BACKENDS": "backends",
    "AUTO_ORDER": "backends",
    "BackendStatus": "backends",
    "BackendChoice": "backends",
    "available_backends": "backends",
    "backend_status": "backends",
    "choose_backend": "backends",
    "PipelineInfo": "artifact",
    "pipeline_info": "artifact",
    "load_audio": "audio",
    "prepare_audio": "audio",
    "prepare_mono": "audio",
    "LengthPolicy": "lengths",
    "LONG_CLIPS": "lengths",
    "as_audio_array": "audio",
    "select_channels": "audio",
    "resample": "audio",
    "frame_windows": "audio",
    "window_starts": "audio",
    "check_sample_rate": "audio",
    "StreamSession": "streaming",
    "PipelineStream": "streaming",
    "SlidingWindows": "streaming",
    "WindowResult": "streaming",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
