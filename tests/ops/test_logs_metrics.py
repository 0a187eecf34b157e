"""What operators see: log lines without secrets, and the metrics they rely on."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.daemon import Flagd

EXPECTED_METRICS = [
    "flagd_http_requests_total",
    "flagd_http_request_duration_seconds_bucket",
    "flagd_stream_subscribers",
    "flagd_stream_events_total",
    "flagd_stream_dropped_total",
    "flagd_propagation_seconds_bucket",
    "flagd_store_up",
    "flagd_bus_up",
    "flagd_revision",
    "flagd_flags",
]


def test_logs_never_contain_keys_and_metrics_cover_the_daemon(tmp_path: Path) -> None:
    daemon = Flagd(data_dir=tmp_path, extra_env={"FLAGD_LOG_LEVEL": "debug"}).start()
    try:
        sdk, admin = daemon.sdk_key or "", daemon.admin_key or ""
        with httpx.Client(base_url=daemon.url, timeout=5) as http:
            http.get("/api/client/flags", params={"key": sdk})
            http.get("/api/client/flags", headers={"X-SDK-Key": sdk})
            http.get("/api/client/flags", params={"key": "wrong-" + sdk})
            http.post(
                "/api/admin/flags", headers={"X-Admin-API-Key": admin}, json={"key": "logged"}
            )
            with http.stream("GET", "/api/client/stream", params={"key": sdk}, timeout=5) as stream:
                chunks = stream.iter_bytes()
                next(chunks)
                http.patch("/api/admin/flags/logged/toggle", headers={"X-Admin-API-Key": admin})
                for chunk in chunks:
                    if b"flag_updated" in chunk:
                        break
            metrics = http.get("/metrics").text
        daemon.stop()  # access lines are written in batches; stopping writes the last ones
        log = daemon.log()
        assert "key=REDACTED" in log
        for secret in (sdk, admin):
            assert secret not in log
        for line in log.splitlines():
            assert line.startswith("ts="), line  # one logfmt line per event
        for name in EXPECTED_METRICS:
            assert f"\n{name}" in metrics, name
        assert 'route="/api/client/flags"' in metrics
        assert 'status="401"' in metrics
        revision_line = next(m for m in metrics.splitlines() if m.startswith("flagd_revision "))
        assert float(revision_line.split()[1]) == 2.0
        assert json.loads(json.dumps(metrics))  # plain text, no binary garbage
    finally:
        daemon.stop()
