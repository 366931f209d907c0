"""options_from: a command's parameters become its options dataclass, overrides win over a parameter
of the same name (the evaluate command's `ablations` is a flag there and a dict in EvalOptions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.cli_common import options_from


@dataclass(frozen=True)
class _Options:
    name: str = "default"
    count: int = 1
    paths: dict[str, Path] = field(default_factory=dict)


def _command(name: str, count: int, paths: bool, unrelated: int) -> _Options:
    parsed = {"a": Path("a")} if paths else {}
    return options_from(_Options, locals(), paths=parsed)


def test_parameters_fill_the_fields_of_the_same_name_and_others_are_left_out() -> None:
    assert _command("x", 3, False, 9) == _Options("x", 3, {})


def test_an_override_wins_over_a_parameter_of_the_same_name() -> None:
    assert _command("x", 3, True, 9).paths == {"a": Path("a")}


def test_fields_given_neither_keep_their_defaults() -> None:
    params: dict[str, Any] = {"count": 5}
    assert options_from(_Options, params) == _Options("default", 5, {})
