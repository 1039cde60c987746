"""audiofront.bench: benchmarks that print tables (``audiofront bench``).

- :mod:`.latency` — front-end latency over backends and peers (torch.stft, torchaudio's way, librosa, nnAudio)
- :mod:`.training` — the Kapre paper's experiment: the front-end's share of training time
- :mod:`.serving` — a load generator against ``audiofront serve`` (loopback)
- :mod:`.gpu` — the GPU check (``audiofront bench gpu``, ``scripts/gpu-check.sh``): sections in
  :mod:`.gpu_sections` and :mod:`.gpu_ort`, Markdown in :mod:`.gpu_report`
- :mod:`.timing` (interleaved rounds, medians and minima), :mod:`.report` (Markdown tables, plot), :mod:`.cli`

Speed is shown here, never asserted by tests. Nothing below this package imports it.
"""

__all__: list[str] = []
