"""The bot evaluation's new rows on tiny seeded data: TF-IDF + logistic regression, every candidate of
the served detector and the served one (nested CV), and the reliability diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.heads_support import FakeEmbedder, tiny_tweets
from training.evaluation import bots as bot_eval
from training.evaluation.bots_only import _training_set
from training.heads.select_bots import candidate_names


@pytest.mark.slow
def test_selected_rows_and_tfidf_baseline(tmp_path: Path) -> None:
    tweets = tiny_tweets(480, seed=1)
    users = sorted({t.user_id for t in tweets if t.user_id})
    # Bots on odd topics (the fixture's users are user{topic}_{k}).
    labels = {u: int(u[4]) % 2 for u in users}
    y = np.array([labels[u] for u in users], dtype=np.int64)
    folds = bot_eval.folds(y, None, 3)
    data = _training_set(tweets, users, labels, FakeEmbedder(), 100)
    names = candidate_names(with_cnn=False)
    # 3 inner folds repeated twice: the repeated CV without build-heads' 15 fits per candidate.
    rows, probs = bot_eval.selected_rows(data, folds, names, inner_folds=3, inner_repeats=2)
    assert set(rows) == {*names, bot_eval.SERVED}
    served = rows[bot_eval.SERVED]
    assert len(served["chosen"]) == 3 and set(served["chosen"]) <= set(names)
    assert all(0 <= r["F1"] <= 1 and 0 <= r["AUC"] <= 1 for r in rows.values())
    assert all(len(r["per_fold"]) == 3 for r in rows.values())
    assert all(w["inner"][w["chosen"]]["log_loss_se"] >= 0 for w in served["why"])
    assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
    # Topic words say the class outright here: text alone separates it.
    assert rows["HGB content"]["AUC"] > 0.9
    tfidf = bot_eval.evaluate_scorers({"lr": bot_eval.tfidf_lr_scorer(users, tweets, y)}, y, folds)["lr"]
    assert tfidf["AUC"] > 0.9 and len(tfidf["thresholds"]) == 3
    bot_eval.reliability_diagram(y, probs, tmp_path / "r.png", "test")
    assert (tmp_path / "r.png").stat().st_size > 1000
    dropped = bot_eval.drop_fields(tweets[1])
    assert dropped.created_at is None and dropped.image is None and dropped.mentions == ()
