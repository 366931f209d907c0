"""A private redis-server on loopback, for the tests of the Redis paths and the fault scenario.

``durable=True`` keeps an append-only file fsynced on every write, so a stop and start on the same
directory keeps every acknowledged write (what lets the fault scenario check that no acknowledged
tweet was lost, rather than that Redis forgot everything). Tests use the default, nothing on disk.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from bench.service_proc import free_port


class RedisProcess:
    def __init__(self, workdir: Path, port: int | None = None, durable: bool = False) -> None:
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise RuntimeError("redis-server is not installed (make redis-server)")
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.durable = durable
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
        persistence = ["--appendonly", "no"]
        if self.durable:
            persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *persistence,
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
        while self.command("ping") != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        # A durable instance's AOF is already fsynced per write; the others keep nothing.
        self.cli("shutdown") if self.durable else self.cli("shutdown", "nosave")
        deadline = time.monotonic() + 10
        while self.command("ping") == "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not stop")
            time.sleep(0.05)

    def lrange(self, key: str) -> list[str]:
        out = self.cli("--raw", "lrange", key, "0", "-1").stdout
        return [line for line in out.splitlines() if line]
