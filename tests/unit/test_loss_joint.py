"""The paper's loss (Eq. 2-3) against a brute-force reference written with plain Python loops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.loss import component_pair_loss, joint_loss

torch.set_num_threads(1)


def brute_force_pair(c: torch.Tensor, a: torch.Tensor, margin: float, kind: str) -> float:
    n = c.shape[0]
    total = 0.0
    for i in range(n):
        pos = float(torch.dot(c[i], a[i]))
        costs_a = [max(0.0, margin - pos + float(torch.dot(c[i], a[j]))) for j in range(n) if j != i]
        costs_c = [max(0.0, margin - pos + float(torch.dot(a[i], c[j]))) for j in range(n) if j != i]
        if not costs_a:
            continue
        if kind == "max_violation":
            total += max(costs_a) + max(costs_c)
        else:
            total += sum(costs_a) + sum(costs_c)
    return total


def unit(n: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


@pytest.mark.parametrize("kind", ["max_violation", "sum_violation"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_loss_matches_brute_force(kind: str, seed: int) -> None:
    c, a = unit(7, 5, seed), unit(7, 5, seed + 100)
    got = float(component_pair_loss(c, a, 0.2, kind))  # type: ignore[arg-type]
    assert got == pytest.approx(brute_force_pair(c, a, 0.2, kind), rel=1e-5, abs=1e-6)
    assert got > 0


def test_max_violation_uses_only_hardest_negative() -> None:
    # Perfectly separated pairs: every positive scores 1, every negative 0 -> no violation within margin 0.2.
    eye = torch.eye(4)
    assert float(component_pair_loss(eye, eye, 0.2)) == 0.0
    # Make one negative very close: only that one term changes the max-violation loss.
    a = eye.clone()
    a[1] = F.normalize(torch.tensor([0.9, 0.1, 0.0, 0.0]), dim=0)
    expected = brute_force_pair(eye, a, 0.2, "max_violation")
    assert expected > 0
    assert float(component_pair_loss(eye, a, 0.2)) == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["max_violation", "sum_violation"])
def test_joint_loss_skips_absent_components(kind: str) -> None:
    n, d = 8, 6
    comps = {"text": unit(n, d, 1), "image": unit(n, d, 2), "user": unit(n, d, 3)}
    present = {
        "text": torch.ones(n, dtype=torch.bool),
        "image": torch.tensor([1, 0, 1, 1, 0, 1, 0, 1], dtype=torch.bool),
        "user": torch.tensor([0, 0, 0, 1, 0, 0, 0, 0], dtype=torch.bool),
    }
    for name in comps:  # absent rows carry zeros, as JointEmbeddingModel emits them
        comps[name] = comps[name] * present[name].unsqueeze(1)
    average = unit(n, d, 4)
    total, parts = joint_loss(comps, present, average, 0.2, kind)  # type: ignore[arg-type]
    expected = {
        name: brute_force_pair(comps[name][present[name]], average[present[name]], 0.2, kind)
        for name in comps
    }
    for name in comps:
        assert parts[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-6)
    assert parts["user"] == 0.0  # a single tweet has no negatives
    assert float(total) == pytest.approx(sum(expected.values()), rel=1e-5)


def test_loss_gradient_flows_to_components_and_average() -> None:
    c = unit(5, 4, 7).requires_grad_(True)
    a = unit(5, 4, 8).requires_grad_(True)
    component_pair_loss(c, a, 0.2).backward()
    assert c.grad is not None and float(c.grad.abs().sum()) > 0
    assert a.grad is not None and float(a.grad.abs().sum()) > 0


def test_leave_one_out_target_against_brute_force() -> None:
    """target="others": each component against the normalised mean of the tweet's other components,
    built here row by row; tweets with the component alone take no part in its term."""
    n, d = 7, 5
    comps = {"text": unit(n, d, 11), "image": unit(n, d, 12), "hashtags": unit(n, d, 13)}
    present = {
        "text": torch.tensor([1, 1, 1, 1, 1, 1, 0], dtype=torch.bool),
        "image": torch.tensor([1, 0, 1, 0, 1, 1, 1], dtype=torch.bool),
        "hashtags": torch.tensor([0, 0, 1, 1, 1, 0, 0], dtype=torch.bool),
    }
    for name in comps:
        comps[name] = comps[name] * present[name].unsqueeze(1)
    average = unit(n, d, 14)  # ignored by this target
    _, parts = joint_loss(comps, present, average, 0.2, "max_violation", "others")
    for name in comps:
        rows, positives = [], []
        for i in range(n):
            others = [comps[o][i] for o in comps if o != name and present[o][i]]
            if present[name][i] and others:
                rows.append(comps[name][i])
                positives.append(F.normalize(torch.stack(others).sum(0), dim=0))
        expected = brute_force_pair(torch.stack(rows), torch.stack(positives), 0.2, "max_violation")
        assert parts[name] == pytest.approx(expected, rel=1e-5, abs=1e-6), name
    # tweet 1 has text alone: it must not be in text's term, so the term differs from the paper's target
    _, paper = joint_loss(comps, present, average, 0.2, "max_violation", "average")
    assert paper["text"] != pytest.approx(parts["text"])
