"""The Redis broker transport of the Celery worker, with one kombu defect worked around.

When a broker connection is lost, Celery closes it (ignoring connection errors only) and the Redis channel
then restores its delivered-but-unacked messages (the worker's prefetch). kombu 5.7 has by then sometimes
dropped the transport's client, and building a Redis client for the restore fails with AttributeError
('NoneType' object has no attribute 'hostname'): the worker exited instead of reconnecting. Here that
restore is skipped when the transport has no client left. Nothing is lost: the messages stay in the broker's
unacked set, which kombu makes visible again after its visibility timeout, and every job is periodic and
idempotent anyway (app.jobs.config).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis

log = logging.getLogger(__name__)

NAME = f"{__name__}:Transport"  # Celery's broker_transport


class QoS(redis.QoS):
    def restore_unacked(self, client: Any = None) -> None:
        """Put the delivered messages back, unless the connection is already gone (see the module)."""
        if client is None and self.channel.connection.client is None:
            log.warning(
                "broker connection already closed: %d unacked message(s) return after the visibility timeout",
                len(self._delivered),
            )
            return
        super().restore_unacked(client)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
