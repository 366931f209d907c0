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


def _decade(c: float) -> float:
    # 0.1 * 10 and 1e-3 / 10 land a rounding error off the decade; keep the grid's keys clean.
    return float(f"{c:.6g}")


def next_c(scores: dict[float, float], min_c: float, max_c: float) -> float | None:
    """The next inverse regularisation strength to try after ``scores`` (C -> validation score): ten
    times the largest C tried while that one scores strictly best, else a tenth of the smallest while
    that one does, never outside [min_c, max_c]; None once the best lies inside what was tried. A
    best value at the grid's edge says the model wanted less (or more) regularisation than offered."""

    def strictly_best(c: float) -> bool:
        return all(scores[c] > v for k, v in scores.items() if k != c)

    if not scores:
        return None
    top, bottom = max(scores), min(scores)
    up, down = _decade(top * 10), _decade(bottom / 10)
    if strictly_best(top) and up <= max_c * (1 + 1e-9) and up not in scores:
        return up
    if strictly_best(bottom) and down >= min_c * (1 - 1e-9) and down not in scores:
        return down
    return None
