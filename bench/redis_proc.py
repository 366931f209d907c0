"""A private redis-server on loopback, for the tests of the Redis paths and the fault scenario.

``durable=True`` keeps an append-only file fsynced on every write, so a stop and start on the same
directory keeps every acknowledged write (what lets the fault scenario check that no acknowledged
tweet was lost, rather than that Redis forgot everything). Tests use the default, nothing on disk.

``config=PROJECT_CONFIG`` starts it with the project's own configuration (deploy/redis.conf, the one
docker-compose.yml mounts), only port, address, directory, pid and log files overridden; ``extra``
appends further ``--name value`` overrides (the fsync measurement sets ``--appendfsync`` with it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from bench.service_proc import ROOT, free_port

PROJECT_CONFIG = ROOT / "deploy" / "redis.conf"


class RedisProcess:
    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        durable: bool = False,
        config: Path | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise RuntimeError("redis-server is not installed (make redis-server)")
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.durable = durable
        self.config = config
        self.extra = list(extra)
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )

    def command(self, *args: str) -> str:
        return self.cli(*args).stdout.strip()

    def start(self) -> None:
        if self.config is not None:
            head = ["redis-server", str(self.config)]
        else:
            persistence = ["--appendonly", "no"]
            if self.durable:
                persistence = ["--appendonly", "yes", "--appendfsync", "always"]
            head = ["redis-server", "--save", "", *persistence]
        subprocess.run(
            [
                *head,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--dir",
                str(self.workdir),
                "--pidfile",
                str(self.workdir / "redis.pid"),
                "--logfile",
                str(self.workdir / "redis.log"),
                *self.extra,
            ],
            check=True,
            timeout=10,
        )
        deadline = time.monotonic() + 10
        while self.command("ping") != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        # A durable instance's AOF is already fsynced per write; a configured one does what its file
        # says on shutdown; the others keep nothing.
        self.cli("shutdown") if self.durable or self.config is not None else self.cli("shutdown", "nosave")
        deadline = time.monotonic() + 10
        while self.command("ping") == "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not stop")
            time.sleep(0.05)

    def lrange(self, key: str) -> list[str]:
        out = self.cli("--raw", "lrange", key, "0", "-1").stdout
        return [line for line in out.splitlines() if line]

    def terminate(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, as `docker compose restart` or a service manager stops it; returns once it exited."""
        pid = int((self.workdir / "redis.pid").read_text().strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _running(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server {pid} still running {timeout_s:.0f} s after SIGTERM")
            time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has exited
    except (FileNotFoundError, ProcessLookupError):
        return False
