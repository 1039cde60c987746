"""Fixtures for the serving tests: the shared small artifacts (tests/artifacts.py), and one real
tritonserver (the pip ``nvidia-pytriton`` wheel) per session on loopback, its log attached to the
report of any test that used it and failed."""

import pytest

from tests.artifacts import fixed_length_parts, onnx_parts, pipeline_onnx, torch_parts  # noqa: F401  (fixtures)

# The models the shared server loads (tests/serve/test_triton_server.py writes them): the single
# layout on the onnxruntime backend (served by our stand-in) and on the python backend, and the
# front-end -> classifier ensemble.
TRITON_MAX_BATCH = 4
TRITON_MODELS = ("single", "single_py", "ens")


@pytest.fixture(scope="session")
def triton(tmp_path_factory, onnx_parts):  # noqa: F811
    """A started :class:`~audiofront.serve.tritonserver.TritonServer` over a repository holding
    :data:`TRITON_MODELS`; skips with the reason where the server wheel is not installed."""
    from audiofront.errors import BackendUnavailable

    pytest.importorskip("tritonclient.http", reason="the Triton tests need tritonclient[http]")
    from audiofront.export.triton import write_model_repository
    from audiofront.serve.tritonserver import TritonServer, find_tritonserver

    try:
        find_tritonserver()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    repo = tmp_path_factory.mktemp("triton-repo")
    common = dict(max_batch=TRITON_MAX_BATCH, max_wait_ms=50)
    write_model_repository(onnx_parts["pipeline"], repo, name="single", **common)
    write_model_repository(onnx_parts["pipeline"], repo, name="single_py", backend="python", **common)
    write_model_repository(None, repo, name="ens", ensemble=True, frontend=onnx_parts["frontend"],
                           classifier=onnx_parts["classifier"], **common)
    server = TritonServer(repo, models=TRITON_MODELS)
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("triton")
    if report.failed and server is not None:
        report.sections.append(("tritonserver log (last 20000 characters)", server.log()[-20000:]))
