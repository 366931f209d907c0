"""What the command modules share: turning a command's parameters into its options dataclass."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


def options_from(cls: type[D], params: Mapping[str, Any], /, **overrides: Any) -> D:
    """``cls`` built from the command's parameters that share a field's name (call it with
    ``locals()``), so that a new option is one parameter and one field, not a third line here too.

    ``overrides`` win over ``params``: they give the fields whose value is not a parameter as typed
    (``verbose=not quiet``), or whose parameter of the same name means something else. Fields that
    are neither keep their defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{**{name: value for name, value in params.items() if name in names}, **overrides})
