"""All configuration in one typed class; every field is read from a MOVIE_RECS_* variable."""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.data.download import BASE_URL as MOVIELENS_URL


class Settings(BaseSettings):
    """Settings of a movie-recs worker, trainer or CLI call.

    Each field is read from the environment variable ``MOVIE_RECS_<FIELD>`` (upper case),
    e.g. ``MOVIE_RECS_KAFKA_BOOTSTRAP``. The docstring under a field is its documentation.
    """

    model_config = SettingsConfigDict(
        env_prefix="MOVIE_RECS_", frozen=True, use_attribute_docstrings=True, extra="ignore"
    )

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    """Comma-separated host:port list of Kafka brokers."""
    app_id: str = "movie-recs"
    """Faust application id: the consumer group and the prefix of changelog topics."""
    topic_prefix: str = ""
    """Prefix of every topic name; lets tests and staging share one broker."""
    partitions: int = Field(8, ge=1)
    """Partitions of the user-keyed topics and the tables (they must be equal)."""
    replication_factor: int = Field(1, ge=1)
    """Replication factor for topics the app creates (1 on a single local broker)."""
    standby_replicas: int = Field(1, ge=0)
    """Standby replicas of each table partition kept warm on other workers."""
    security_protocol: str = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    sasl_mechanism: str = "PLAIN"
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 when a SASL protocol is used."""
    sasl_username: str = ""
    """SASL user name."""
    sasl_password: str = ""
    """SASL password."""
    ssl_cafile: str = ""
    """CA bundle that signs the brokers' certificates (SSL protocols)."""
    schema_registry_url: str = ""
    """Confluent/Karapace schema registry; empty means use the ids bundled with the schemas."""

    # --- Access ------------------------------------------------------------------------
    admin_token: str = ""
    """Bearer token every mutating HTTP route needs (compared in constant time); empty refuses them all."""

    # --- Worker ------------------------------------------------------------------------
    worker_id: str = ""
    """Name this worker reports in responses and /health; empty means host:port."""
    data_dir: str = "./data/faust"
    """Faust data directory (table stores); two workers must never share one."""
    store: str = "memory://"
    """Faust table store: memory:// (rebuilt from changelogs) or rocksdb://."""
    web_host: str = "127.0.0.1"
    """Interface the HTTP view binds."""
    web_port: int = Field(8080, ge=0, le=65535)
    """Port of the HTTP view."""
    log_level: str = "info"
    """Worker log level."""

    # --- Ingest ------------------------------------------------------------------------
    history_length: int = Field(200, ge=1)
    """Recent events kept per user (the full set of seen movies is kept apart)."""
    max_payload_bytes: int = Field(65536, ge=64)
    """Messages larger than this are dead-lettered without being decoded."""
    min_event_ts_ms: int = 788_918_400_000
    """Oldest plausible event time (1995-01-01); older events are invalid."""
    max_future_skew_ms: int = Field(86_400_000, ge=0)
    """How far past the worker's clock an event time may lie before it is invalid."""
    max_movie_id: int = Field(10_000_000, ge=1)
    """Largest plausible movie id."""
    batch_size: int = Field(1000, ge=1)
    """Events an ingest agent takes at once (state updates are merged per batch)."""
    batch_within_s: float = Field(0.05, gt=0)
    """Longest an ingest agent waits to fill a batch."""

    # --- Storage -----------------------------------------------------------------------
    snapshots: str = "file://./data/snapshots"
    """Where Parquet snapshots go: file://DIR or s3://bucket/prefix."""
    registry: str = "file://./data/registry"
    """Where the model registry lives: file://DIR or s3://bucket/prefix."""
    s3_endpoint_url: str = ""
    """S3 endpoint for s3:// stores (empty means AWS)."""
    s3_region: str = "us-east-1"
    """S3 region."""
    s3_access_key_id: str = ""
    """S3 access key; empty means the default AWS credential chain."""
    s3_secret_access_key: str = ""
    """S3 secret key."""
    s3_part_size_mib: int = Field(8, ge=5)
    """Part size of S3 multipart uploads in MiB; larger objects go up in parts (S3's minimum is 5)."""
    store_retry_attempts: int = Field(5, ge=1)
    """Tries of a store call (snapshots, registry) before the store is reported unavailable."""
    store_retry_base_s: float = Field(0.2, gt=0)
    """First wait between store retries; each next wait doubles, jittered."""
    store_retry_max_s: float = Field(10.0, gt=0)
    """Longest wait between store retries, also between the snapshot sink's later attempts."""

    # --- Snapshots ---------------------------------------------------------------------
    snapshot_enabled: bool = True
    """Run the snapshot sink in the worker: every valid watch and rate event into Parquet."""
    snapshot_max_events: int = Field(100_000, ge=1)
    """Events per snapshot file at most; a file is also cut at every event-time hour."""
    snapshot_late_grace_ms: int = Field(300_000, ge=0, lt=3_600_000)
    """How far before its hour an event may be and still join the hour's file (clock jitter)."""
    snapshot_max_buffered_events: int = Field(500_000, ge=1)
    """Events consumed but not yet in a file at which the sink, while its store is down, pauses."""
    snapshot_flush_on_stop: bool = True
    """Write the open batches when the worker stops cleanly (a crash replays them instead)."""

    # --- Models and serving ------------------------------------------------------------
    serve_model: str = "als"
    """The registered model a worker serves (its production version, else its newest)."""
    model_retry_s: float = Field(10.0, gt=0)
    """How often a worker without a model looks in the registry again."""
    promote_max_regression: float = Field(0.005, ge=0)
    """Largest NDCG@10 loss (absolute) against production that a promotion may bring."""
    trending_replay_days: float = Field(30.0, ge=0)
    """Days of interactions a starting worker replays into its trending counts."""
    movielens_url: str = MOVIELENS_URL
    """Where ``movie-recs data download`` fetches MovieLens archives (a mirror, or a test server)."""
    trace_retention_s: float = Field(3_600.0, gt=0)
    """How long a served answer stays available at /trace/{request_id}."""
    answer_records_backlog: int = Field(10_000, ge=1)
    """Answers' trace records waiting for Kafka beyond this many are dropped (counted, oldest first)."""
    answer_records_interval_ms: int = Field(20, ge=0)
    """Answers' trace records go to Kafka in bursts this far apart, so they share produce requests."""

    # --- Rollouts ----------------------------------------------------------------------
    conversion_window_s: float = Field(1_800.0, gt=0)
    """A served list converts when its user starts watching one of its movies this soon after."""
    sequential_alpha: float = Field(0.05, gt=0, lt=1)
    """Error rate of the always-valid sequential test behind every ship / keep decision."""
    canary_max_error_rate: float = Field(0.02, ge=0, le=1)
    """Canary error-rate SLO: a canary whose model fails more requests than this is rolled back."""
    canary_max_p95_ms: float = Field(100.0, gt=0)
    """Canary latency SLO (ms): a canary whose p95 answer latency (arrival to answer) is above this is rolled back."""
    canary_min_requests: int = Field(200, ge=1)
    """Requests a canary (and stable, for conversion) must have had before the guard judges it."""
    canary_guard_interval_s: float = Field(10.0, gt=0)
    """How often the leader's canary guard looks at the figures."""
    rollout_stats_interval_s: float = Field(2.0, gt=0)
    """How often a worker publishes its per-arm figures (what /rollout/status and the guard read)."""
    shadow_backlog: int = Field(1_000, ge=1)
    """Requests waiting for the shadow model beyond this many are not shadow-scored (counted)."""
    retrain_crontab: str = "30 5 * * 1,4"
    """When the leader retrains (cron, UTC; default Monday and Thursday 05:30); empty turns it off."""
    retrain_window_days: float = Field(28.0, gt=0)
    """Days of snapshots, up to now, that a scheduled retraining trains on."""
    retrain_canary_percent: int = Field(10, ge=0, le=100)
    """Percent of users a retrained version that passes the quality gate starts with as a canary."""
    retrain_timeout_s: float = Field(7_200.0, gt=0)
    """A retraining process still running after this long is stopped (a failed run)."""
    quarantine_source: str = ""
    """A `module:function` returning the user ids training must exclude (quarantined); empty: none."""

    @field_validator("retrain_crontab")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if value and not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday)")
        return value

    def topic(self, name: str) -> str:
        """The full name of a logical topic (``watch``, ``rate``, ...)."""
        return f"{self.topic_prefix}{name}"

    @property
    def broker_url(self) -> str:
        """Bootstrap servers in Faust's URL form."""
        return ";".join(f"kafka://{hp.strip()}" for hp in self.kafka_bootstrap.split(","))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
