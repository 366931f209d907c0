"""`serve` end to end: a real uvicorn process, and SIGTERM finishing the in-flight request."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from app.cli import serve
from bench.service_proc import free_port
from tests.app_fixtures import start_serve, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


def test_serve_refuses_bad_settings_with_a_clear_message() -> None:
    cli = typer.Typer()
    cli.command()(serve)
    result = CliRunner().invoke(cli, ["/no/such/checkpoint"], env={"TWEETEMBED_FAKE_BACKEND": "0"})
    assert result.exit_code == 2
    assert "TWEETEMBED_CHECKPOINT: /no/such/checkpoint is not a directory" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_sigterm_finishes_in_flight_requests_then_exits() -> None:
    port = free_port()
    env = {
        **os.environ,
        "TWEETEMBED_FAKE_DELAY_MS": "1500",
        "TWEETEMBED_BATCH_MAX_WAIT_MS": "0",
        "PYTHONPATH": str(ROOT),
    }
    proc = start_serve(["--fake", "--port", str(port), "--log-level", "warning"], env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, base, 60)

        result: dict[str, httpx.Response] = {}

        def slow_request() -> None:
            result["response"] = httpx.post(
                f"{base}/embed", json={"tweet": {"id": 1, "text": "slow"}}, timeout=30
            )

        worker = threading.Thread(target=slow_request)
        worker.start()
        time.sleep(0.5)  # the request is inside its 1.5 s forward pass
        proc.send_signal(signal.SIGTERM)
        worker.join(30)
        assert result["response"].status_code == 200
        assert result["response"].json()["results"][0]["present"]["text"] is True
        # uvicorn re-raises the captured SIGTERM once shut down, so the exit is the signal's, not a crash.
        assert proc.wait(30) in (0, -signal.SIGTERM)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/health", timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
