"""Classifiers that sit behind the front-end, and the shipped 88-class piano-note model.

- :class:`KapreConvNet`: the Kapre paper's 5-layer convnet;
- :func:`load_piano_model` ``-> (frontend, classifier, config)``, :func:`pipeline_onnx` (the model
  as one ONNX pipeline, cached), :func:`load_pipeline` (an ``audiofront.runtime.Pipeline`` over it);
- :mod:`~audiofront.models.synth` (training notes), :mod:`~audiofront.models.pluck` (Karplus-Strong
  test notes), :mod:`~audiofront.models.train`, :mod:`~audiofront.models.evaluate`.
"""

from audiofront.models.convnet import KapreConvNet
from audiofront.models.notes import PIANO_LABELS, label_text, note_frequency, note_name
from audiofront.models.piano import PianoClassifier, load_piano_model, load_pipeline, pipeline_onnx

__all__ = [
    "KapreConvNet",
    "PianoClassifier",
    "load_piano_model",
    "pipeline_onnx",
    "load_pipeline",
    "PIANO_LABELS",
    "label_text",
    "note_frequency",
    "note_name",
]
