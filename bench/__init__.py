"""audiofront.bench: benchmarks that print tables (``audiofront bench``).

- :mod:`.latency` — front-end latency over backends and peers (torch.stft, torchaudio's way, librosa, nnAudio)
- :mod:`.training` — the Kapre paper's experiment: the front-end's share of training time
- :mod:`.serving` — a load generator against ``audiofront serve`` (loopback)
- :mod:`.timing` (interleaved rounds, medians and minima), :mod:`.report` (Markdown tables, plot), :mod:`.cli`

Speed is shown here, never asserted by tests. Nothing below this package imports it.
"""

__all__: list[str] = []
