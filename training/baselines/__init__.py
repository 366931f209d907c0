"""Simple baselines that any learned model must beat: majority class, TF-IDF classifiers and
neighbours, and forests on single behaviour features. The synthetic-world report and the
evaluation harness both use them, so a number means the same thing in both places."""
