"""A private redis-server on loopback for the fault scenario: append-only file with fsync on every
write, so a stop and start on the same directory keeps every acknowledged write (what lets the
scenario check that no acknowledged tweet was lost, rather than that Redis forgot everything)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path


class RedisProcess:
    def __init__(self, workdir: Path, port: int) -> None:
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise RuntimeError("redis-server is not installed (make redis-server)")
        self.workdir = workdir
        self.port = port
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

    def start(self) -> None:
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--daemonize",
                "yes",
                "--dir",
                str(self.workdir),
                "--pidfile",
                str(self.workdir / "redis.pid"),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            check=True,
            timeout=10,
        )
        deadline = time.monotonic() + 10
        while self.cli("ping").stdout.strip() != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.cli("shutdown")  # writes nothing more: the AOF is already fsynced per write
        deadline = time.monotonic() + 10
        while self.cli("ping").returncode == 0 and self.cli("ping").stdout.strip() == "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not stop")
            time.sleep(0.05)

    def lrange(self, key: str) -> list[str]:
        out = self.cli("--raw", "lrange", key, "0", "-1").stdout
        return [line for line in out.splitlines() if line]
