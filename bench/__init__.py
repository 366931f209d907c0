"""Benchmarks and load/fault tests of the tweetembed service (`make bench`, `make loadtest`).

Every figure is measured in the run that reports it, side by side with its reference, on loopback
only; every request loop is bounded in count and time.
"""
