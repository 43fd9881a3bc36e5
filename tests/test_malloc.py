"""glibc malloc tuning and trimming: what the exporter does to keep RSS near what is live."""

from __future__ import annotations

import platform
import sys

import pytest

from exporter import malloc
from exporter.malloc import Trimmer


def test_trimmer_trims_at_most_once_per_interval() -> None:
    now = [100.0]
    calls: list[float] = []

    def fake_trim() -> bool:
        calls.append(now[0])
        return True

    trim = Trimmer(every=10.0, clock=lambda: now[0], trim=fake_trim)
    results = []
    for t in (100.0, 101.0, 109.9, 110.0, 110.5, 125.0):
        now[0] = t
        results.append(trim())
    assert results == [True, False, False, True, False, True]
    assert calls == [100.0, 110.0, 125.0]


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_glibc_tune_and_trim_run() -> None:
    malloc.tune()
    assert malloc.trim() is True
