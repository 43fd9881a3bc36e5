"""Polling: what is due (``tick``), the per-account, per-action lanes that send it (``lanes``),
one module per kind of round, and the engine that runs them (``engine``)."""
