"""The chaos soak, short: 1,000 streams for 60 s (the benchmark runs 10,000 for 10 minutes).

Same harness and targets as ``benchmarks/soak.py``; the windows keep their 30 s, so this run is
the RequestLimitExceeded storm followed by the AuthFailure window, after a short warm-up. See
tests/soak.py for what is measured and how.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak import SoakSettings, run_soak

SETTINGS = SoakSettings(streams=1000, duration=60.0, warmup=15.0)


@pytest.mark.timeout(150)
def test_chaos_soak(tmp_path: Path) -> None:
    result = run_soak(SETTINGS, tmp_path, log=lambda message: print(message, flush=True))
    report = result.report()
    print(report)
    assert not result.failures(), report

    # The figures behind the verdict, so that a harness bug cannot pass for a good exporter.
    tracker = result.tracker
    assert tracker is not None and tracker.scrapes > 0 and not tracker.false
    assert len(result.scrapes) > 1000
    assert all(s.status == 200 and s.latency <= 1.0 for s in result.scrapes)
    assert any(s.compressed for s in result.scrapes) and any(
        not s.compressed for s in result.scrapes
    )
    assert [code for code, _, _ in result.windows] == [
        "RequestLimitExceeded",
        "AuthFailure.SignatureFailure",
    ]
    assert len(result.reloads) >= 3 and all(r.status == 200 for r in result.reloads)
    injected = result.injected_by_kind()
    for kind in ("timeout", "http_5xx", "malformed_json", "wrong_content_type"):
        assert injected.get(kind, 0) > 0, kind
    assert all(injected == counted for _, _, injected, counted in result.fault_rows())
    assert result.rss_growth() < 0.10
    assert result.alive_at_end and result.exit_code == 0 and result.tracebacks == 0
