"""The worker's own observer: reads lag and table sizes on a timer, and shows them on /health."""
from __future__ import annotations

import logging
from typing import Any

from mode import Service

from app import app
from app.metrics import TABLES_RECOVERED
from app.observability.lag import BrokerOffsets, LagMonitor
from app.observability.state import count_rows, publish_build_info
from app.settings import Settings, get_settings
from app.views import HEALTH_CHECKS

log = logging.getLogger(__name__)


def lag_groups(settings: Settings) -> list[str]:
    """The worker's consumer group, and the snapshot sink's when the sink runs."""
    return [settings.app_id] + ([f"{settings.app_id}-snapshots"] if settings.snapshot_enabled else [])


settings = get_settings()
MONITOR = LagMonitor(BrokerOffsets(settings), lag_groups(settings), settings.lag_timeout_s)
"""This worker's lag readings, shared by the timer, /health and the operator page."""
TABLE_COUNTS: dict[str, int] = {}
TABLES_RECOVERED.set_function(lambda: float(app.tables.recovery.completed.is_set()))


class ObserverService(Service):
    """Every ``lag_interval_s``: one lag reading per group and the tables' row counts.

    A dependency of the app rather than an ``app.service``: those start only once table
    recovery is done, and a long recovery is when the lag matters most.
    """

    async def on_start(self) -> None:
        info = await publish_build_info()
        log.info("build %s, measuring lag of %s every %ss", info, list(MONITOR.groups), settings.lag_interval_s)

    @Service.task
    async def _observe(self) -> None:
        while not self.should_stop:
            await MONITOR.refresh()
            try:
                TABLE_COUNTS.update(await count_rows(app.tables.values()))
            except Exception:  # a store that cannot count must not stop the lag readings
                log.exception("counting table rows failed")
            await self.sleep(settings.lag_interval_s)

    async def on_stop(self) -> None:
        await MONITOR.source.close()


async def lag_health() -> tuple[bool, dict[str, Any]]:
    """Lag is shown, never a reason for 503: a worker behind still answers from its tables."""
    return True, {"groups": MONITOR.as_dict(), "table_rows": dict(TABLE_COUNTS)}


app.add_dependency(ObserverService(beacon=app.beacon))
HEALTH_CHECKS["lag"] = lag_health
