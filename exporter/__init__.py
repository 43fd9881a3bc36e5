"""Prometheus exporter for Tencent Cloud CSS (live) stream state."""

__version__ = "0.1.0"
