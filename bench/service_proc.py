"""A service (or any HTTP server) in a child process on loopback: start, wait for /ready, read its
resident memory and CPU time from /proc, stop it with a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``argv`` must listen on 127.0.0.1:``port``; stdout and stderr go to ``log_path``.

    ``source`` is the source tree the server runs from (its working directory and PYTHONPATH): this
    checkout, or another commit's tree for before/after figures (bench/baseline.py).
    """

    def __init__(
        self,
        argv: list[str],
        port: int,
        log_path: Path,
        env: dict[str, str] | None = None,
        ready_path: str = "/ready",
        source: Path = ROOT,
    ) -> None:
        self.argv = argv
        self.source = source
        self.port = port
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONPATH": str(source), **(env or {})}
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.cold_start_s = float("nan")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 300.0) -> float:
        """Start and wait until ``ready_path`` answers 200; returns the seconds that took."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child writes to it for its whole life
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.source, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = started + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode} before ready; see {self.log_path}:\n"
                    + self.log_tail()
                )
            try:
                if httpx.get(self.base_url + self.ready_path, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"server not ready after {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(0.05)
        self.cold_start_s = time.perf_counter() - started
        return self.cold_start_s

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def pids(self) -> list[int]:
        """The server and its live descendants (the model process runs forward passes in a child)."""
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    todo += [int(c) for c in children.read_text().split()]
                except OSError:  # the thread or process ended meanwhile
                    continue
        return out

    def rss_bytes(self) -> int:
        """Resident memory of the server and its children (pages they share are counted in each)."""
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            rss = [line for line in status.splitlines() if line.startswith("VmRSS:")]
            total += int(rss[0].split()[1]) * 1024 if rss else 0
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the server and its live children (all their threads)."""
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        return total

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def service_argv(checkpoint: Path | None, port: int, fake: bool = False, device: str = "cpu") -> list[str]:
    """The real service, exactly as a user starts it (`tweetembed serve`)."""
    argv = [sys.executable, "-m", "training.cli", "serve"]
    if checkpoint is not None:
        argv.append(str(checkpoint))
    argv += ["--port", str(port), "--log-level", "warning", "--device", device]
    if fake:
        argv.append("--fake")
    return argv
