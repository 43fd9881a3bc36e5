"""A web backend with fixed answers, for tests of the HTTP layer alone."""

from __future__ import annotations

from exporter.callbacks import Rejection
from exporter.callbacks.origin import Origin


class FakeBackend:
    """Implements exporter.web.Backend; subclasses override what their test looks at."""

    callback_path: str | None = "/callbacks/live"
    body = b"up 1\n"

    def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
        return [self.body]

    def ready(self) -> bool:
        return True

    def healthy(self) -> bool:
        return True

    def status_page(self, query: dict[str, str]) -> str:
        return "<html>status</html>"

    def handle_callback(
        self, body: bytes, content_type: str | None, origin: Origin | None = None
    ) -> tuple[int, bytes]:
        return 200, b'{"code":0}'

    def handle_rejection(self, rejection: Rejection) -> None:
        return None

    def reload(self) -> tuple[bool, str]:
        return True, "reloaded"
