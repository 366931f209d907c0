"""The evaluation harness (`tweetembed evaluate`): the paper's four applications against baselines."""
