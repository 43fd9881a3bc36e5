"""What the simulator served, for tests (JSON) and for dashboards (Prometheus text)."""

from __future__ import annotations

import threading
from collections.abc import Mapping


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Counters:
    """Request counts by (action, outcome) and callback deliveries by outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = {}
        self._callbacks: dict[str, int] = {}

    def count_request(self, action: str, outcome: str) -> None:
        key = (action, outcome)
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1

    def count_callback(self, outcome: str) -> None:
        with self._lock:
            self._callbacks[outcome] = self._callbacks.get(outcome, 0) + 1

    def requests(self) -> dict[str, dict[str, int]]:
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (action, outcome), count in sorted(self._requests.items()):
                out.setdefault(action, {})[outcome] = count
            return out

    def callbacks(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._callbacks.items()))

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._callbacks.clear()

    def render(self, streams_by_state: Mapping[str, int]) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines = [
            "# HELP tencent_live_simulator_requests_total API calls answered by the simulator.",
            "# TYPE tencent_live_simulator_requests_total counter",
        ]
        for action, outcomes in self.requests().items():
            for outcome, count in outcomes.items():
                lines.append(
                    "tencent_live_simulator_requests_total"
                    f'{{action="{_escape(action)}",outcome="{_escape(outcome)}"}} {count}'
                )
        lines += [
            "# HELP tencent_live_simulator_callbacks_total Push/interrupt callbacks by outcome.",
            "# TYPE tencent_live_simulator_callbacks_total counter",
        ]
        for outcome, count in self.callbacks().items():
            lines.append(
                f'tencent_live_simulator_callbacks_total{{outcome="{_escape(outcome)}"}} {count}'
            )
        lines += [
            "# HELP tencent_live_simulator_streams Streams in the simulated world by state.",
            "# TYPE tencent_live_simulator_streams gauge",
        ]
        for state, count in sorted(streams_by_state.items()):
            lines.append(f'tencent_live_simulator_streams{{state="{_escape(state)}"}} {count}')
        return "\n".join(lines) + "\n"
