"""All configuration in one typed class; every field is read from a MOVIE_RECS_* variable."""
from __future__ import annotations

import re
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
    producer_max_batch_size: int = Field(262144, ge=16384)
    """Bytes per partition in one batch of the worker's producer; Faust's 16 KiB holds about seven user rows, so a busy ingest batch waited on the broker for every few rows."""

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
    batch_size: int = Field(4000, ge=1)
    """Most events the ingest agent takes at once (state updates are merged per batch); a loaded worker's batches are cut by the wait below first."""
    batch_within_s: float = Field(0.3, gt=0)
    """Longest the ingest agent waits to fill a batch, so the longest a taken event waits for its user's row. A batch writes each user's row once, so a wait too short for a loaded worker to gather many events multiplies row writes (0.15 s wrote 1.6x the rows of 0.3 s in bench.ingest)."""
    item_batch_within_s: float = Field(1.0, gt=0)
    """Longest the item agent waits to fill a batch: movie counts are read by nobody in a hurry, and every delta of a movie in a batch merges into one row write."""

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

    # --- Security ----------------------------------------------------------------------
    api_key_sha256: str = ""
    """Comma-separated SHA-256 hex digests of the API keys the public routes accept (``X-API-Key``); empty is off."""
    http_rate_per_s: float = Field(20.0, ge=0)
    """HTTP requests a second per API key (else per remote address) on the public routes; 0 is off."""
    http_burst: int = Field(40, ge=1)
    """HTTP requests one API key or address may send at once before the per-second rate applies."""
    kafka_client_rate_per_s: float = Field(50.0, ge=0)
    """Requests a second per ``client_id`` on ``reco-requests``, above which they get status 429; 0 is off."""
    kafka_client_burst: int = Field(100, ge=1)
    """Requests one ``client_id`` may send at once before the per-second rate applies."""
    ratings_per_user_hour: int = Field(300, ge=0)
    """Rate events a user may send an hour (a bucket refilling over the hour); more are dead-lettered; 0 is off."""
    rate_limit_max_keys: int = Field(100_000, ge=1)
    """Buckets each limiter keeps in memory at most (idle ones expire first)."""
    rate_limit_exempt: str = "127.0.0.1,::1"
    """Comma-separated remote addresses never rate-limited over HTTP: local tools and proxies, peer workers; empty for none."""
    startup_probe_timeout_s: float = Field(10.0, gt=0)
    """How long a worker or CLI waits for the brokers to accept its connection and credentials (and topics it created to be listed) before it exits."""

    @field_validator("api_key_sha256")
    @classmethod
    def _hex_digests(cls, value: str) -> str:
        digests = [d.strip().lower() for d in value.split(",") if d.strip()]
        bad = [d for d in digests if not re.fullmatch(r"[0-9a-f]{64}", d)]
        if bad:
            raise ValueError(f"not SHA-256 hex digests: {', '.join(d[:12] for d in bad)}")
        return ",".join(digests)

    # --- Fairness ----------------------------------------------------------------------
    fairness_window_s: float = Field(3_600.0, gt=0)
    """Exposure is counted in tumbling windows this long, by the responses' own time (ts)."""
    fairness_windows_kept: int = Field(24, ge=1)
    """Exposure windows kept in the table: /fairness?window=all sums them."""
    fairness_gauge_interval_s: float = Field(15.0, gt=0)
    """How often a worker recomputes the fairness gauges of the arms whose exposure it holds."""
    exposure_flush_interval_s: float = Field(1.0, gt=0)
    """A worker folds the lists it serves per arm and window and sends the sums this often (and at stop)."""
    # --- Scale and failover --------------------------------------------------------------
    static_membership: bool = True
    """Join the group as a static member named by the worker id, so a restarted worker takes its partitions back at once."""
    session_timeout_s: float = Field(10.0, ge=6.0)
    """How long the group waits for a silent worker before moving its partitions (the broker's minimum is 6 s); a restarted worker must rejoin within it to get its own back (~8 s on a loaded 2-core machine)."""
    heartbeat_interval_s: float = Field(1.0, gt=0)
    """How often a worker tells the group it is alive (at most a third of the session timeout)."""
    user_max_movies: int = Field(2000, ge=1)
    """Movies remembered per user as watched and as rated; the earliest are forgotten beyond it (see tables.history)."""

    # --- Spam ---------------------------------------------------------------------------
    spam_window_s: int = Field(3600, ge=1)
    """Length of the tumbling event-time window in which each user's rate events are counted."""
    spam_floor: int = Field(30, ge=0)
    """Rate events per window at or below which nobody is flagged, whatever the population does."""
    spam_min_population: int = Field(10, ge=1)
    """Users a window needs for its median and MAD to count; in a smaller one the floor alone decides."""
    spam_late_grace_s: int = Field(300, ge=0)
    """How far a partition's newest event time must pass a window's end before the window closes."""

    # --- Observability -----------------------------------------------------------------
    lag_interval_s: float = Field(10.0, gt=0)
    """How often the worker measures its consumer lag and table sizes for /metrics and /health."""
    lag_timeout_s: float = Field(5.0, gt=0)
    """Longest a lag reading may take; a failed or slow one keeps the last value, flagged stale."""
    otlp_endpoint: str = ""
    """OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces); empty turns tracing off at no cost."""

    # --- Snapshot compaction ------------------------------------------------------------
    snapshot_compact_interval_s: float = Field(600.0, ge=0)
    """How often a worker compacts the closed snapshot files of the partitions it owns; 0 never."""
    snapshot_compact_min_age_s: float = Field(7_200.0, ge=0)
    """A file's event-time span must have ended this long ago (by the wall clock) before it is merged."""
    snapshot_compact_target_bytes: int = Field(64 * 2**20, ge=1)
    """A merged snapshot file stops growing once its inputs reach this many bytes."""
    snapshot_compact_max_hours: int = Field(31 * 24, ge=1)
    """Longest span of event time one merged snapshot file may cover, so range reads stay selective."""

    # --- Worker stop ---------------------------------------------------------------------
    stop_timeout_s: float = Field(30.0, gt=0)
    """Longest a worker takes to stop after SIGTERM/SIGINT, broker up or not; what is not committed replays."""

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
