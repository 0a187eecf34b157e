"""Prometheus metrics of one daemon, in a registry of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _ReadAtScrape(Collector):
    """Values read at scrape time rather than tracked on every change. A name ending in
    `_total` is exposed as a counter, any other as a gauge."""

    def __init__(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        for name, (help_text, value) in self._read().items():
            if name.endswith("_total"):
                yield CounterMetricFamily(name.removesuffix("_total"), help_text, value=value)
            else:
                yield GaugeMetricFamily(name, help_text, value=value)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "flagd_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "flagd_http_request_duration_seconds",
            "HTTP request latency by route and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.propagation = Histogram(
            "flagd_propagation_seconds",
            "Time from a change's commit to its event being written to this instance's streams",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def add_gauges(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.registry.register(_ReadAtScrape(read))

    def observe_request(self, route: str, method: str, status: int, seconds: float | None) -> None:
        """`seconds` None counts the request without timing it (a stream's lifetime is not
        a latency)."""
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._request_children[key] = children
        children[0].inc()
        if seconds is not None:
            children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
