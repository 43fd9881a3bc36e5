"""``python -m exporter`` and the ``tencent-live-exporter`` command."""

from exporter.signals import early


def entry() -> None:
    # Signal handlers before anything slow is imported: a SIGHUP's default action ends the
    # process, and a `systemctl reload` may come right after the start (exporter/signals.py).
    early()
    from exporter.cli import main

    raise SystemExit(main())


if __name__ == "__main__":
    entry()
