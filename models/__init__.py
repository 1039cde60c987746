"""Classifiers that sit behind the front-end."""

from audiofront.models.convnet import KapreConvNet

__all__ = ["KapreConvNet"]
