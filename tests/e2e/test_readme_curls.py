"""Every curl of README.md and docs/*.md, run as written against `tweetembed serve` on the tiny checkpoint.

A curl block is a fenced ``bash`` block whose first line starts with ``curl``. Under each curl command
a ``# -> STATUS`` comment gives the status it answers, optionally followed by the answer shown (JSON);
a ``json`` block right after the curl block is the answer of its last curl. Each block runs in bash
from the repository root, with ``localhost:8000`` pointed at the test server; each answer must have the
documented status and the shape of the shown answer (its keys, the kinds of its values, and the error
type of an error). ``"…"`` in a shown answer stands for any value, and as a key for more keys.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.service_proc import free_port

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXPECT = re.compile(r"^# -> (\d{3})(?: (.+))?$")
MARK = "@@status@@"
ELIDED = "…"

pytestmark = pytest.mark.slow


@dataclass
class Curl:
    """One curl command: its documented status and, when shown, its answer."""

    status: int
    shown: Any  # parsed JSON, or None when the docs show no answer


@dataclass
class CurlBlock:
    page: str
    line: int
    script: str
    curls: list[Curl]

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def _fences(text: str) -> Iterator[tuple[int, str, str, str]]:
    """(line number, info string, body, text after the fence) of each fenced block."""
    for match in re.finditer(r"^```(\w*)\n(.*?)^```\n?", text, flags=re.M | re.S):
        yield text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2), text[match.end() :]


def curl_blocks(path: Path) -> list[CurlBlock]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for line, info, body, after in _fences(text):
        if info != "bash" or not body.lstrip().startswith("curl"):
            continue
        commands = [ln for ln in body.splitlines() if ln.startswith("curl ")]
        expectations = [m for ln in body.splitlines() if (m := EXPECT.match(ln))]
        where = f"{path.relative_to(ROOT)}:{line}"
        assert len(expectations) == len(commands), f"{where}: each curl needs its '# -> STATUS' line"
        curls = [Curl(int(m.group(1)), json.loads(m.group(2)) if m.group(2) else None) for m in expectations]
        following = re.match(r"```json\n(.*?)^```", after, flags=re.M | re.S)
        if following and curls[-1].shown is None:
            curls[-1].shown = json.loads(following.group(1))
        blocks.append(CurlBlock(str(path.relative_to(ROOT)), line, body, curls))
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in curl_blocks(page)]


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(type(value))
    return "number" if isinstance(value, int | float) else type(value).__name__


def assert_shape(shown: Any, actual: Any, where: str = "answer") -> None:
    """``actual`` has every key of ``shown`` (recursively) with values of the same kind."""
    if shown == ELIDED:
        return
    assert _kind(actual) == _kind(shown), f"{where}: {actual!r} is not like {shown!r}"
    if isinstance(shown, dict):
        for key, value in shown.items():
            if key == ELIDED:
                continue
            assert key in actual, f"{where}: no {key!r} in {sorted(actual)}"
            assert_shape(value, actual[key], f"{where}.{key}")
        if "error" in shown and isinstance(shown["error"], dict) and "type" in shown["error"]:
            assert actual["error"]["type"] == shown["error"]["type"], f"{where}: {actual['error']}"
    elif isinstance(shown, list):
        for i, (want, got) in enumerate(zip(shown, actual, strict=False)):
            assert_shape(want, got, f"{where}[{i}]")


def run_block(block: CurlBlock, base_url: str) -> list[tuple[int, Any]]:
    """Run the block in bash; (status, parsed answer) of each curl, in order."""
    script = block.script.replace("localhost:8000", base_url.removeprefix("http://"))
    script = re.sub(r"^curl ", f"curl -w '\\n{MARK}%{{http_code}}\\n' ", script, flags=re.M)
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{block.name}: {result.stderr[-2000:]}"
    answers = []
    parts = result.stdout.split(MARK)
    bodies, statuses = [parts[0]], []
    for part in parts[1:]:
        status, _, rest = part.partition("\n")
        statuses.append(int(status))
        bodies.append(rest)
    for body, status in zip(bodies, statuses, strict=False):
        answers.append((status, json.loads(body) if body.strip() else None))
    return answers


@pytest.fixture(scope="module")
def served(tiny_checkpoint: Path) -> Iterator[str]:
    """`tweetembed serve` on the tiny checkpoint, as a user starts it; its base URL."""
    port = free_port()
    env = os.environ | {"TWEETEMBED_TORCH_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("TWEETEMBED_FAKE_BACKEND", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "training.cli", "serve", str(tiny_checkpoint), "--host", "127.0.0.1",
         "--port", str(port), "--device", "cpu", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # a busy 2-core machine loads slowly
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read() if process.stderr else ""
                pytest.fail(f"serve exited {process.returncode}: {stderr[-2000:]}")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_docs_have_curls_and_the_first_screen_of_the_readme_has_one() -> None:
    readme = [b for b in ALL_BLOCKS if b.page == "README.md"]
    assert readme and readme[0].line < 40 and "/embed" in readme[0].script
    assert readme[0].curls[0].shown is not None, "the README's first curl shows its answer"
    assert sum(len(b.curls) for b in ALL_BLOCKS) >= 10


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.name)
def test_each_curl_answers_as_documented(block: CurlBlock, served: str) -> None:
    answers = run_block(block, served)
    assert len(answers) == len(block.curls), f"{block.name}: {answers}"
    for i, ((status, answer), curl) in enumerate(zip(answers, block.curls, strict=True)):
        assert status == curl.status, f"{block.name} curl {i + 1}: {status} {answer}"
        if curl.shown is not None:
            assert_shape(curl.shown, answer, f"{block.name} curl {i + 1}")


def test_the_shape_check_can_fail() -> None:
    assert_shape({"a": [{"b": 1}], "…": "…"}, {"a": [{"b": 2.5}], "c": 3})
    for shown, actual in (
        ({"a": 1}, {"b": 1}),
        ({"a": 1}, {"a": "1"}),
        ({"a": [{"b": 1}]}, {"a": [{"c": 1}]}),
        ({"error": {"type": "x"}}, {"error": {"type": "y"}}),
    ):
        with pytest.raises(AssertionError):
            assert_shape(shown, actual)
