"""What a baseline's hyper-parameter search on the validation split chose."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Selection:
    """What a baseline's hyper-parameter search chose, and the validation score of every candidate."""

    parameter: str
    chosen: float
    validation: dict[str, float] = field(default_factory=dict)  # str(candidate) -> validation score
    metric: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "parameter": self.parameter,
            "chosen": self.chosen,
            "metric": self.metric,
            "validation": self.validation,
        }
