"""Fitting the downstream heads (hashtag index, retrieval indexes, location forest, bot head)."""
