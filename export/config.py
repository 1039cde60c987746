"""Front-ends described in JSON, for ``audiofront export --config FILE``.

Two forms. One module, optionally followed by dB scaling::

    {"type": "MelSpectrogram",
     "args": {"sample_rate": 16000, "n_fft": 512, "hop_length": 160, "n_mels": 64},
     "db": {"top_db": 80}}

or a chain, each step a module of :mod:`audiofront.frontend` with its keyword arguments::

    {"sample_rate": 16000, "name": "my-frontend",
     "chain": [{"type": "Spectrogram", "args": {"n_fft": 400, "hop_length": 160}},
               {"type": "AmplitudeToDB", "args": {"top_db": 80}},
               {"type": "Normalize", "args": {"mode": "frequency"}}]}

``type`` is one of :data:`CONFIG_TYPES`, classes of ``audiofront.frontend`` (``Filterbank`` is
left out: it needs a weight matrix). ``db`` holds ``AmplitudeToDB`` arguments (``stype``
defaults to ``"power"``). ``sample_rate`` may be omitted when a module's args give it, and
must agree with them otherwise. The result is a :class:`~audiofront.frontend.FrontEnd`.

Example::

    >>> fe = frontend_from_config({"type": "MelSpectrogram", "db": {"top_db": 80},
    ...                            "args": {"sample_rate": 16000, "n_fft": 512, "hop_length": 160, "n_mels": 64}})
    >>> fe.sample_rate, fe.n_mels, fe(torch.randn(2, 16000)).shape
    (16000, 64, torch.Size([2, 64, 101]))
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from audiofront import frontend
from audiofront.errors import ConfigError
from audiofront.frontend import FrontEnd

__all__ = ["frontend_from_config", "CONFIG_TYPES"]

#: Module classes a config may name.
CONFIG_TYPES = (
    "Spectrogram", "MelSpectrogram", "MelScale", "MFCC", "ComputeDeltas", "AmplitudeToDB", "Normalize",
    "Magnitude", "Phase", "SpecAugment", "AdditiveNoise",
)


def _build(step, where: str) -> nn.Module:
    if not isinstance(step, dict) or "type" not in step:
        raise ConfigError(f"{where} must be an object with 'type' (one of {', '.join(CONFIG_TYPES)}) and 'args'")
    kind, args = step["type"], step.get("args", {})
    if kind not in CONFIG_TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(CONFIG_TYPES)}, got {kind!r}")
    if not isinstance(args, dict):
        raise ConfigError(f"{where}: args must be an object of keyword arguments, got {type(args).__name__}")
    try:
        return getattr(frontend, kind)(**args)
    except TypeError as exc:
        raise ConfigError(f"{where}: bad arguments for {kind}: {exc}") from None


def frontend_from_config(source) -> FrontEnd:
    """Build a :class:`FrontEnd` from a JSON file path or an already-parsed dict (format above)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = f"config file {str(path)!r}"
        try:
            config = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{name} does not exist") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    else:
        config, name, path = source, "config", None
    if not isinstance(config, dict):
        raise ConfigError(f"{name} must hold a JSON object, got {type(config).__name__}")
    unknown = set(config) - {"type", "args", "db", "chain", "sample_rate", "name"}
    if unknown:
        raise ConfigError(f"{name} has unknown keys {sorted(unknown)}; allowed: type, args, db, chain, sample_rate, name")
    if ("chain" in config) == ("type" in config):
        raise ConfigError(f"{name} must have exactly one of 'type' (one module) or 'chain' (a list of modules)")
    if "chain" in config:
        if not isinstance(config["chain"], list) or not config["chain"]:
            raise ConfigError(f"{name}: chain must be a non-empty list")
        modules = [_build(step, f"{name} chain[{i}]") for i, step in enumerate(config["chain"])]
    else:
        modules = [_build(config, name)]
    if "db" in config:
        db = config["db"]
        if not isinstance(db, dict):
            raise ConfigError(f"{name}: db must be an object of AmplitudeToDB arguments, got {db!r}")
        modules.append(_build({"type": "AmplitudeToDB", "args": db}, f"{name} db"))
    rates = {m.sample_rate for m in modules if isinstance(getattr(m, "sample_rate", None), int)}
    rate = config.get("sample_rate")
    if rate is None:
        if len(rates) != 1:
            raise ConfigError(f"{name}: give 'sample_rate' (the modules {'disagree' if rates else 'do not say'})")
        rate = rates.pop()
    elif rates - {rate}:
        raise ConfigError(f"{name}: sample_rate {rate} disagrees with the modules' sample_rate {sorted(rates)}")
    default_name = path.stem if path is not None else "custom"
    return FrontEnd(*modules, sample_rate=rate, name=str(config.get("name", default_name)))
