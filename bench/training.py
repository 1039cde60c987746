"""The Kapre paper's experiment: what the front-end inside the model costs in training time.

KapreConvNet (88 classes, dummy labels) trains on dummy 30 s mono audio at 32 kHz, batch 16,
with the paper's benchmark front-end (centred power STFT, n_fft 512, hop 256, in dB: :func:`paper_stft`) twice:

- **audio in**: the front-end is the model's first layer, computed every step;
- **spectrograms in**: the same spectrograms precomputed once, outside the timed loop.

``overhead = time(audio in) / time(spectrograms in) - 1``; Choi et al. (2017) saw about +20 %
on a GPU. Steps alternate between the two runs so machine load falls on both alike.

Example::

    >>> result = run_paper_experiment(TrainConfig(batches=2, epochs=1, seconds=1.0))
    >>> result["overhead"]          # e.g. 0.05: the front-end costs 5 % more training time
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import torch

from audiofront.bench.timing import set_threads

__all__ = ["TrainConfig", "run_paper_experiment", "paper_stft"]


@dataclasses.dataclass
class TrainConfig:
    """Sizes of the experiment; the paper's are ``batches=512, epochs=2`` (``full_config``)."""

    batch: int = 16
    seconds: float = 30.0
    sample_rate: int = 32000
    batches: int = 2  # per epoch: a CPU takes 10-30 s per step of 16 x 30 s
    epochs: int = 1
    warmup_steps: int = 1
    threads: int = 2
    device: str = "auto"  # "auto": CUDA when available
    algorithm: str = "auto"

    @classmethod
    def full_config(cls, threads: int = 2) -> "TrainConfig":
        return cls(batches=512, epochs=2, threads=threads)

    @classmethod
    def quick_config(cls, threads: int = 2) -> "TrainConfig":
        return cls(batch=2, seconds=1.0, batches=2, epochs=1, warmup_steps=1, threads=threads)


def run_paper_experiment(cfg: TrainConfig, *, progress: bool = True) -> dict:
    """Train both ways; return seconds per step (median), epoch times and the front-end's share."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # a bare torch machine (the GPU check installs audiofront with --no-deps)
        tqdm = None

    from audiofront.export.classifier import FrontEndClassifier
    from audiofront.models import KapreConvNet

    set_threads(cfg.threads)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    generator = torch.Generator().manual_seed(0)
    samples = int(round(cfg.seconds * cfg.sample_rate))
    # A few distinct batches, reused: generating 512 x 16 x 30 s of noise would dominate the run.
    pool = [torch.randn(cfg.batch, samples, generator=generator) * 0.1 for _ in range(min(cfg.batches, 4))]
    labels = [torch.randint(0, 88, (cfg.batch,), generator=generator) for _ in pool]
    # Both runs feed the convnet the same layout: (batch, 1, freq, frames), the channel it takes.
    precompute = FrontEndClassifier(paper_stft(cfg.sample_rate, algorithm=cfg.algorithm), torch.nn.Identity(),
                                    "batch,1,bins,frames").to(device)
    with torch.no_grad():
        spectra = [precompute(x.to(device)) for x in pool]

    def make_model(with_frontend: bool):
        torch.manual_seed(0)
        net = KapreConvNet(n_classes=88)
        model = FrontEndClassifier(paper_stft(cfg.sample_rate, algorithm=cfg.algorithm), net, "batch,1,bins,frames") \
            if with_frontend else net
        model = model.to(device).train()
        return model, torch.optim.Adam(model.parameters(), lr=1e-3)

    runs = {"audio in": make_model(True), "spectrograms in": make_model(False)}
    inputs = {"audio in": [x.to(device) for x in pool], "spectrograms in": spectra}
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(name: str, i: int) -> float:
        model, optimizer = runs[name]
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs[name][i % len(pool)]), labels[i % len(pool)].to(device))
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    total = cfg.warmup_steps + cfg.batches * cfg.epochs
    times: dict[str, list[float]] = {name: [] for name in runs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        bar = tqdm(total=2 * total, desc="paper experiment (training)", disable=not progress, leave=False) \
            if tqdm is not None else None
        for i in range(total):
            for name in runs:
                elapsed = step(name, i)
                if i >= cfg.warmup_steps:
                    times[name].append(elapsed)
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": cfg.threads, "batch": cfg.batch, "seconds": cfg.seconds, "sample_rate": cfg.sample_rate,
        "batches_per_epoch": cfg.batches, "epochs": cfg.epochs, "algorithm": cfg.algorithm,
        "frontend": "paper_stft: centred power STFT n_fft 512, hop 256, Hann, dB",
        "runs": {},
    }
    for name, t in times.items():
        arr = np.asarray(t)
        result["runs"][name] = {"step_median_s": float(np.median(arr)), "step_p90_s": float(np.percentile(arr, 90)),
                                "total_s": float(arr.sum()), "epoch_s": float(arr.sum() / cfg.epochs)}
    audio, spec = result["runs"]["audio in"], result["runs"]["spectrograms in"]
    result["overhead"] = audio["total_s"] / spec["total_s"] - 1.0
    result["overhead_median"] = audio["step_median_s"] / spec["step_median_s"] - 1.0
    return result


def paper_stft(sample_rate: int, *, algorithm: str = "auto"):
    """The training experiment's front-end as this benchmark has always measured it: a centred power
    STFT (n_fft 512, hop 256, Hann) in dB, ``(batch, time) -> (batch, 257, frames)``.

    Kept apart from :func:`audiofront.frontend.kapre_stft`, which now gives Kapre 0.4.1's own
    numbers (uncentred magnitude dB), so the benchmark's workload and its history stay the same.
    """
    from audiofront.frontend import AmplitudeToDB, FrontEnd, Spectrogram

    return FrontEnd(Spectrogram(n_fft=512, hop_length=256, power=2.0, algorithm=algorithm), AmplitudeToDB("power"),
                    sample_rate=sample_rate, name="paper-stft")
