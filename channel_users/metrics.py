"""Request metrics in the Prometheus text exposition format, per server process.

Each process counts its own requests (a scrape through a load balancer sees one process at a time;
label the scrape target per process, or run one process per port, to see them all).
"""

from __future__ import annotations

import bisect
from collections import defaultdict

# Upper bounds of the latency histogram's buckets, in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

Labels = tuple[str, str, int]  # method, route pattern, status


class Metrics:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sums: dict[tuple[str, str], float] = defaultdict(float)
        self._counts: dict[Labels, int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Counts one answered request; `route` is its pattern (`users/{userId}`), never a raw path,
        so that the number of series stays bounded."""
        self._counts[(method, route, status)] += 1
        self._buckets[(method, route)][bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sums[(method, route)] += seconds

    def exposition(self) -> bytes:
        lines = [
            "# HELP channel_users_requests_total Answered /open/v5 requests.",
            "# TYPE channel_users_requests_total counter",
        ]
        for (method, route, status), count in sorted(self._counts.items()):
            lines.append(
                f'channel_users_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}'
            )
        lines += [
            "# HELP channel_users_request_seconds Time to answer /open/v5 requests.",
            "# TYPE channel_users_request_seconds histogram",
        ]
        for (method, route), buckets in sorted(self._buckets.items()):
            labels = f'method="{method}",route="{route}"'
            total = 0
            for bound, count in zip((*BUCKETS, "+Inf"), buckets, strict=True):
                total += count
                lines.append(f'channel_users_request_seconds_bucket{{{labels},le="{bound}"}} {total}')
            lines.append(f"channel_users_request_seconds_sum{{{labels}}} {self._sums[(method, route)]}")
            lines.append(f"channel_users_request_seconds_count{{{labels}}} {total}")
        return ("\n".join(lines) + "\n").encode()
