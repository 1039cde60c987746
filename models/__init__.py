"""Classifiers that sit behind the front-end, and the shipped 88-class piano-note model.

- :class:`KapreConvNet`: the Kapre paper's 5-layer convnet;
- :func:`load_piano_model` ``-> (frontend, classifier, config)``, :func:`pipeline_onnx` (the model
  as one ONNX pipeline, cached), :func:`load_pipeline` (an ``audiofront.runtime.Pipeline`` over it);
- :mod:`~audiofront.models.cache` (where that pipeline is cached: torch-free),
  :mod:`~audiofront.models.synth` (training notes), :mod:`~audiofront.models.pluck` (Karplus-Strong
  test notes), :mod:`~audiofront.models.train`, :mod:`~audiofront.models.evaluate`.

Names load on first use (PEP 562): ``audiofront classify`` reads the notes and the cache here
without importing torch.
"""

from __future__ import annotations

from audiofront.lazy import lazy_exports

_EXPORTS = {
    "KapreConvNet": "convnet",
    "PianoClassifier": "piano",
    "load_piano_model": "piano",
    "pipeline_onnx": "piano",
    "load_pipeline": "piano",
    "PIANO_LABELS": "notes",
    "label_text": "notes",
    "note_frequency": "notes",
    "note_name": "notes",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
