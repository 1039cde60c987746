"""The shipped piano model behind ``audiofront serve`` on loopback: synthesised notes come back with
their own labels, and each answer is what the pipeline gives that clip alone."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx")
pytest.importorskip("fastapi", reason="audiofront serve needs the serve extra (fastapi, uvicorn)")

from audiofront.models.evaluate import holdout_notes  # noqa: E402
from audiofront.models.notes import note_name  # noqa: E402
from audiofront.models.piano import WEIGHTS_DIR, load_pipeline  # noqa: E402
from audiofront.serve.server import PCM_MEDIA_TYPE, ServeConfig, ServerThread, create_app  # noqa: E402

pytestmark = pytest.mark.skipif(not (WEIGHTS_DIR / "piano.pt").is_file(), reason="the piano model's weights are missing")

# tests/models/test_piano.py holds the model itself to >= 0.85 top-1 on held-out synthetic notes;
# serving must not lose any of that.
TOP1_MIN = 0.85
SEED = 4242  # a held-out stream no other test or documented figure uses


def test_synthesised_notes_get_their_labels_over_http():
    import soundfile as sf
    import soxr

    audio, midi = holdout_notes(per_note=1, seed=SEED)
    audio, midi = audio[::2], midi[::2]  # 44 notes, 1 s at 16 kHz, every octave
    bodies = []
    for i, clip in enumerate(audio):
        if i % 3 == 0:  # raw PCM at 48 kHz: the server resamples
            pcm = soxr.resample(clip, 16000, 48000, quality="HQ").astype("<f4")
            bodies.append((pcm.tobytes(), PCM_MEDIA_TYPE, "?sample_rate=48000&probabilities=true", pcm))
        else:  # a 24-bit FLAC or a float WAV file
            buf = io.BytesIO()
            flac = i % 3 == 1
            sf.write(buf, clip, 16000, format="FLAC" if flac else "WAV", subtype="PCM_24" if flac else "FLOAT")
            bodies.append((buf.getvalue(), "audio/flac" if flac else "audio/wav", "?probabilities=true", buf.getvalue()))

    with load_pipeline("torch-cpu") as pipe:
        # What each request must get: its own body prepared as the server does, alone in the model.
        windows = [pipe.prepare(local, 48000 if i % 3 == 0 else None) for i, (*_, local) in enumerate(bodies)]
        solo = np.split(pipe.predict(np.concatenate(windows)), np.cumsum([len(w) for w in windows])[:-1])
        app = create_app(pipe, ServeConfig(max_batch=16, max_wait_ms=5))

        async def main(url):
            async with httpx.AsyncClient(base_url=url, timeout=60,
                                         limits=httpx.Limits(max_connections=len(bodies))) as http:
                return await asyncio.gather(*(
                    http.post(f"/v1/classify{query}", content=body, headers={"Content-Type": media})
                    for body, media, query, _ in bodies))

        with ServerThread(app) as server:
            responses = asyncio.run(main(server.url))
    assert len(responses) == len(bodies)
    hits = 0
    for i, response in enumerate(responses):
        assert response.status_code == 200, response.text
        body = response.json()
        np.testing.assert_allclose(body["probabilities"], solo[i].mean(axis=0), atol=1e-5, err_msg=f"note {i}")
        hits += body["top"][0]["label"] == note_name(int(midi[i]))
    assert hits / len(bodies) >= TOP1_MIN, f"top-1 over HTTP {hits}/{len(bodies)}"
