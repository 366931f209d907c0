"""Prometheus metrics, in a registry of the app's own so that several apps (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tweetembed_requests", "HTTP requests", ["endpoint", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "tweetembed_request_latency_seconds",
            "HTTP request latency",
            ["endpoint"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.batch_size = Histogram(
            "tweetembed_batch_size",
            "Tweets per forward pass",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.batch_latency = Histogram(
            "tweetembed_batch_latency_seconds", "Forward pass duration", registry=r
        )
        self.queue_depth = Gauge("tweetembed_queue_depth", "Tweets waiting for a forward pass", registry=r)
        self.cache_lookups = Counter(
            "tweetembed_cache_lookups", "Component cache lookups", ["result"], registry=r
        )
        self.cache_hit_rate = Gauge(
            "tweetembed_cache_hit_rate", "Cache hits / lookups since start", registry=r
        )
        self.queue_rejections = Counter(
            "tweetembed_queue_rejections", "Requests refused with 429", registry=r
        )
        self.in_progress = Gauge(
            "tweetembed_model_requests_in_progress",
            "Requests in progress on the model endpoints (admission control counts these)",
            registry=r,
        )
        self.ready = Gauge("tweetembed_ready", "1 once the checkpoint and heads are loaded", registry=r)
        self._hits = 0
        self._lookups = 0

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_latency.observe(seconds)

    def observe_cache(self, hits: int, misses: int) -> None:
        if hits:
            self.cache_lookups.labels("hit").inc(hits)
        if misses:
            self.cache_lookups.labels("miss").inc(misses)
        self._hits += hits
        self._lookups += hits + misses
        if self._lookups:
            self.cache_hit_rate.set(self._hits / self._lookups)

    def render(self) -> bytes:
        return generate_latest(self.registry)
