"""The Faust application: built from settings, nothing else lives here.

Agents, tables and web views import ``app`` and register themselves; autodiscovery imports
them when a worker starts, so this module imports none of them.
"""
from __future__ import annotations

import socket

import faust

from app.cluster import membership_options
from app.faust_consumer import Consumer
from app.faust_producer import Producer
from app.http_errors import json_errors
from app.kafka_security import broker_credentials
from app.settings import Settings, get_settings


def worker_id(settings: Settings) -> str:
    """The name this worker puts in responses: the setting, else host:port."""
    return settings.worker_id or f"{socket.gethostname()}:{settings.web_port}"


def create_app(settings: Settings | None = None) -> faust.App:
    """A Faust app configured from ``settings`` (the environment by default)."""
    settings = settings or get_settings()
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.standby_replicas,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_max_batch_size=settings.producer_max_batch_size,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_transport=f"tcp://{settings.web_host}:{settings.web_port}",
        canonical_url=f"http://{settings.web_host}:{settings.web_port}",
        autodiscover=["agents", "tables", "app.views", "app.reco_views", "app.rollout_views", "app.commands",
                      "app.snapshot_cli", "app.model_cli", "app.rollout_cli", "app.fairness_views", "app.report_cli",
                      "app.spam_views", "app.users_cli", "app.observability", "app.operator_page",
                      "app.catalog_cli", "app.send_cli"],
        origin="app",
        web_application_options={"middlewares": [json_errors]},
        Worker="app.worker:BoundedStopWorker",
        TableManager="app.cluster:PromptTableManager",
        **membership_options(settings, worker_id(settings)),
    )
    app.transport.Consumer = Consumer  # see app.faust_consumer: no message lost in a rebalance
    app.transport.Producer = Producer  # see app.faust_producer: no declaration of a topic that exists
    return app


app = create_app()
