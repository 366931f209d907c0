"""The selection recipe of the served bot detector: the one-standard-error rule on the mean log-loss
of the calibrated out-of-fold probabilities picks the winner, the behaviour baseline's forest and a
stack of the best model of each group are candidates, and a stacked detector survives save -> load
with the same scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.heads.bot_selected import SelectedBotDetector, SigmoidCalibrator
from tests.heads_support import tiny_bot_training_set
from training.heads.select_bots import (
    STACK_NAME,
    BotTrainingSet,
    candidate_names,
    log_loss_of,
    one_se_choice,
    select_detector,
)


@pytest.fixture(scope="module")
def data() -> BotTrainingSet:
    return tiny_bot_training_set()


def test_log_loss_by_hand() -> None:
    y = np.array([1, 0, 0])
    p = np.array([0.8, 0.1, 0.5])
    expected = -(np.log(0.8) + np.log(0.9) + np.log(0.5)) / 3
    assert log_loss_of(y, p) == pytest.approx(expected)


def test_a_feature_missing_for_every_user_is_left_out(data: BotTrainingSet) -> None:
    from training.heads.select_bots import fit_candidate

    # As with timestamps dropped: the time features are NaN for every user.
    users = data.users
    feats = {"behaviour": np.full((len(users), 3), np.nan)}
    feats["behaviour"][:, 0] = data.labels + np.linspace(0, 0.1, len(users))
    for name in ("HGB behaviour", "RF behaviour"):
        cand = fit_candidate(name, users, data.labels, feats, data.dim)
        p = cand.raw(users, feats)
        assert p.shape == (len(users),) and np.isfinite(p).all()


@pytest.mark.slow
def test_chosen_by_the_one_se_rule_with_forest_and_stack(data: BotTrainingSet, tmp_path: Path) -> None:
    names = candidate_names(with_cnn=False)
    assert "RF behaviour" in names and names[-1] == STACK_NAME
    detector, fitted = select_detector(data, names=names, k=3, fit_all=True)
    table = detector.cv["candidates"]
    assert set(table) == set(names) and set(fitted) == set(names)
    assert detector.chosen.name == one_se_choice(table, names)
    assert detector.cv["criterion"].startswith("mean log-loss")
    # The stack's members are the sub-score models: the best single-group candidate of each group.
    members = detector.cv["stack_members"]
    assert [detector.group_models[g].name for g in ("behaviour", "content", "embedding")] == members
    for g, m in zip(("behaviour", "content", "embedding"), members, strict=True):
        alone = [n for n in names if n != STACK_NAME and fitted[n].groups == (g,)]
        assert m in alone and table[m]["log_loss"] == min(table[n]["log_loss"] for n in alone)

    # A stack served as the chosen detector: its score is the stacker over its members' raw logits,
    # and save -> load keeps it.
    stack = fitted[STACK_NAME]
    assert [m.name for m in stack.members] == members
    users = [u.recent(data.n_recent) for u in data.users[:12]]
    served = SelectedBotDetector(
        data.dim,
        data.n_recent,
        table[STACK_NAME]["threshold"],
        stack,
        detector.group_models,
        detector.content,
    )
    feats = served.features(users, [data.posters] if data.posters is not None else None)
    z = np.column_stack([SigmoidCalibrator.logit(m.raw(users, feats)) for m in stack.members])
    raw = stack.model.predict_proba(z)[:, 1]
    before = served.score_users(users, [data.posters] if data.posters is not None else None)
    assert stack.calibrator is not None
    np.testing.assert_allclose(before, stack.calibrator.predict(raw), atol=1e-12)
    served.save(tmp_path)
    after = SelectedBotDetector.load(tmp_path).score_users(
        users, [data.posters] if data.posters is not None else None
    )
    np.testing.assert_allclose(after, before, atol=1e-12)
