"""The paper's training loss (Eq. 2-3): bidirectional hinge ranking between each component and the
tweet average, summed over components.

For component c and the average a of the same tweets (both unit vectors, so f is cosine):
    L_ca = sum_i max(0, m - f(c_i, a_i) + f(c_i, a^)) + max(0, m - f(a_i, c_i) + f(a_i, c^))
with a^ / c^ the hardest in-batch negatives (VSE++, ``max_violation``), or the sum over all negatives
(VSE0, ``sum_violation``, for ablations). Only tweets that have c take part: an absent component
is neither a positive nor a negative. Gradients flow through the average too (the paper does not
say to detach it, and the average is what the downstream applications use).
"""

from __future__ import annotations

import torch

from model.config import LossKind, LossTarget


def component_pair_loss(
    c: torch.Tensor, a: torch.Tensor, margin: float, kind: LossKind = "max_violation"
) -> torch.Tensor:
    """Eq. 2 for one component: c (n, dim) and a (n, dim), row i of both from the same tweet."""
    n = c.shape[0]
    if n < 2:  # no negatives in the batch
        return c.new_zeros(())
    scores = c.float() @ a.float().t()  # (n, n): scores[i, j] = f(c_i, a_j)
    positive = scores.diagonal()  # (n,)
    eye = torch.eye(n, dtype=torch.bool, device=scores.device)
    cost_a = (margin + scores - positive.unsqueeze(1)).clamp(min=0).masked_fill(eye, 0)  # c_i vs a_j
    cost_c = (margin + scores - positive.unsqueeze(0)).clamp(min=0).masked_fill(eye, 0)  # a_j vs c_i
    if kind == "max_violation":
        return cost_a.max(dim=1).values.sum() + cost_c.max(dim=0).values.sum()
    if kind == "sum_violation":
        return cost_a.sum() + cost_c.sum()
    raise ValueError(f"unknown loss kind {kind!r}")


def joint_loss(
    components: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor],
    average: torch.Tensor,
    margin: float,
    kind: LossKind = "max_violation",
    target: LossTarget = "average",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 3: the sum of Eq. 2 over components. Returns the loss and each component's part (floats).

    ``target="average"`` is the paper: c against the average of all the tweet's components, c included.
    ``target="others"`` puts c against the normalised mean of the tweet's *other* components instead
    (tweets with c alone sit out of c's term). Because c is part of its own tweet's average, the paper's
    positive gives c a head start of 1/n_present over every negative; with two or three components that
    alone can meet the margin, so training may succeed without aligning components with each other,
    which is what retrieval and hashtag recommendation need.
    """
    total = average.new_zeros((), dtype=torch.float32)
    parts: dict[str, float] = {}
    if target == "others":
        masks = {name: present[name].to(average.dtype).unsqueeze(1) for name in components}  # (B, 1)
        summed = sum(emb * masks[name] for name, emb in components.items())  # (B, dim)
        count = sum(present[name].long() for name in components)  # (B,)
    for name, emb in components.items():
        mask = present[name]  # (B,)
        if target == "average":
            positive = average[mask]
        elif target == "others":
            mask = mask & (count >= 2)
            positive = torch.nn.functional.normalize((summed - emb)[mask], dim=1)  # (n, dim)
        else:
            raise ValueError(f"unknown loss target {target!r}")
        part = component_pair_loss(emb[mask], positive, margin, kind)
        parts[name] = float(part.detach())
        total = total + part
    return total, parts
