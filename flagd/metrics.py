"""Prometheus metrics of one daemon, in a registry of its own."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class _RequestCounts(Collector):
    """Requests by route, method and status with their latency, counted in plain dicts on
    the request path (no locks: one event loop updates them) and exposed at scrape time
    as prometheus_client's Counter and Histogram would expose them."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        # (route, method) -> per-bucket counts (the last one is +Inf) and the sum of seconds
        self.latency: dict[tuple[str, str], tuple[list[int], list[float]]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float | None) -> None:
        key = (route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        if seconds is None:
            return
        timed = self.latency.get((route, method))
        if timed is None:
            timed = self.latency[(route, method)] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
        timed[0][bisect_left(LATENCY_BUCKETS, seconds)] += 1
        timed[1][0] += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "flagd_http_requests",
            "HTTP requests by route, method and status",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in self.counts.items():
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "flagd_http_request_duration_seconds",
            "HTTP request latency by route and method",
            labels=["route", "method"],
        )
        for (route, method), (buckets, total) in self.latency.items():
            cumulative = list(accumulate(buckets))
            bounds = [*(floatToGoString(b) for b in LATENCY_BUCKETS), "+Inf"]
            latency.add_metric(
                [route, method], list(zip(bounds, cumulative, strict=True)), total[0]
            )
        yield latency


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = _RequestCounts()
        self.registry.register(self.requests)
        self.propagation = Histogram(
            "flagd_propagation_seconds",
            "Time from a change's commit to its event being written to this instance's streams",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )

    def add_gauges(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.registry.register(_ReadAtScrape(read))

    def observe_request(self, route: str, method: str, status: int, seconds: float | None) -> None:
        """`seconds` None counts the request without timing it (a stream's lifetime is not
        a latency)."""
        self.requests.observe(route, method, status, seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
