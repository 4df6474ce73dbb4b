"""Prometheus metrics of the worker, in base units with the ``movierecs_`` prefix."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_INGESTED = Counter(
    "movierecs_events_ingested_total", "Valid events applied to the tables.", ["topic"])
EVENTS_REPLAYED = Counter(
    "movierecs_events_replayed_total", "Events skipped because their offset was applied before.",
    ["topic"])
EVENTS_REROUTED = Counter(
    "movierecs_events_rerouted_total",
    "Events found on a partition that does not own their user, moved to the owning one.",
    ["topic"])
DEAD_LETTERS = Counter(
    "movierecs_dead_letters_total", "Messages sent to the dead-letter topic.",
    ["topic", "reason"])

SNAPSHOT_FILES_WRITTEN = Counter(
    "movierecs_snapshot_files_written_total", "Snapshot Parquet files stored whole.", ["topic"])
SNAPSHOT_ROWS_WRITTEN = Counter(
    "movierecs_snapshot_rows_written_total", "Events made durable in snapshot files.", ["topic"])
SNAPSHOT_BYTES_WRITTEN = Counter(
    "movierecs_snapshot_bytes_written_total", "Bytes of snapshot files stored.", ["topic"])
SNAPSHOT_EVENTS_SKIPPED = Counter(
    "movierecs_snapshot_events_skipped_total",
    "Messages the snapshot sink left out because they are not valid events (ingest dead-letters them).",
    ["topic", "reason"])
SNAPSHOT_STORE_ERRORS = Counter(
    "movierecs_snapshot_store_errors_total", "Snapshot store calls that failed, retried ones included.",
    ["operation"])
SNAPSHOT_STORE_RETRIES = Counter(
    "movierecs_snapshot_store_retries_total", "Snapshot store calls tried again after a failure.")
SNAPSHOT_BUFFERED_EVENTS = Gauge(
    "movierecs_snapshot_buffered_events", "Events consumed by the snapshot sink and not yet in a file.")
SNAPSHOT_STORE_AVAILABLE = Gauge(
    "movierecs_snapshot_store_available", "1 while the snapshot store accepts writes, 0 during an outage.")
SNAPSHOT_PAUSED = Gauge(
    "movierecs_snapshot_consumption_paused",
    "1 while the snapshot sink has paused consuming because the store is down and its buffer is full.")

UNRECORDED_ANSWERS = Counter(
    "movierecs_unrecorded_answers_total",
    "Answers whose trace changelog row (or, for HTTP, reco-responses copy) never reached Kafka.")
ANSWERS = Counter(
    "movierecs_answers_total", "Recommendation answers given, by channel, strategy, status and arm.",
    ["via", "strategy", "status", "arm"])
ANSWER_SECONDS = Histogram(
    "movierecs_answer_seconds", "Time from a request's arrival at the worker to its answer.",
    ["via", "strategy", "arm"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))

RATE_LIMITED = Counter(
    "movierecs_rate_limited_total",
    "Requests or events refused for going over a rate limit: HTTP 429, Kafka status 429, or a rating dead-lettered.",
    ["channel"])
AUTH_DENIED = Counter(
    "movierecs_auth_denied_total", "HTTP requests refused for missing (401) or wrong (403) credentials.",
    ["status"])

FAIRNESS_GINI = Gauge(
    "movierecs_fairness_gini", "Gini of exposure over the whole catalog (never-shown movies as 0), current window.",
    ["arm"])
FAIRNESS_COVERAGE = Gauge(
    "movierecs_fairness_coverage", "Share of the catalog shown at least once in the current window.", ["arm"])
FAIRNESS_STARVATION = Gauge(
    "movierecs_fairness_starvation", "Share of the catalog never shown in the current window.", ["arm"])
FAIRNESS_TAIL_SHARE = Gauge(
    "movierecs_fairness_tail_share",
    "Share of exposures going to long-tail movies (outside the top 20% by training interactions), current window.",
    ["arm"])
FAIRNESS_AMPLIFICATION = Gauge(
    "movierecs_fairness_amplification",
    "A popularity tier's share of exposures over its share of training interactions, current window.",
    ["arm", "tier"])
FAIRNESS_RESPONSES = Gauge(
    "movierecs_fairness_responses", "Served responses counted in the current exposure window.", ["arm"])

SPAM_FLAGS = Counter(
    "movierecs_spam_flags_total", "Spam flags applied to the quarantine, by action.", ["action"])
SPAM_QUARANTINED = Gauge(
    "movierecs_spam_quarantined_users", "Users in quarantine on the partitions this worker owns.")
SPAM_THRESHOLD = Gauge(
    "movierecs_spam_threshold", "Rate events per window above which a user is flagged, last closed window.")
SPAM_LATE_EVENTS = Counter(
    "movierecs_spam_late_events_total",
    "Rate events that arrived after their window had closed, left out of its verdict.")

CONSUMER_LAG = Gauge(
    "movierecs_consumer_lag", "Log end offset minus committed offset, measured by the worker itself.",
    ["group", "topic", "partition"])
CONSUMER_LAG_STALE = Gauge(
    "movierecs_consumer_lag_stale", "1 when the last lag reading of the group failed (the lag shown is older).",
    ["group"])
TABLE_ROWS = Gauge("movierecs_table_rows", "Rows of a table held by this worker (active and standby).", ["table"])
TABLES_RECOVERED = Gauge("movierecs_tables_recovered", "1 once the tables are recovered from their changelogs.")
BUILD_INFO = Gauge("movierecs_build_info", "Always 1: the version and git SHA of the running code.",
                   ["version", "git_sha"])
SNAPSHOT_LAST_FILE_TIMESTAMP = Gauge(
    "movierecs_snapshot_last_file_timestamp_seconds", "Unix time this worker last stored a snapshot file.",
    ["topic"])
CATALOG_MOVIES = Gauge("movierecs_catalog_movies", "Movies in this worker's catalog table.")
PARTITIONS_OWNED = Gauge(
    "movierecs_partitions_owned", "Table partitions this worker owns (serves and writes).")
STANDBY_PARTITIONS = Gauge(
    "movierecs_standby_partitions", "Table partitions this worker keeps warm as a standby replica.")
CONSUMER_PARTITIONS = Gauge(
    "movierecs_consumer_partitions", "Partitions assigned to this worker's consumer: fetched, or paused (not fetched).",
    ["state"])

ARM_ERRORS = Counter(
    "movierecs_arm_errors_total",
    "Requests an arm's model failed on (the user was answered by stable instead).", ["arm"])
CONVERSIONS = Counter(
    "movierecs_rollout_conversions_total",
    "Served lists whose user started watching one of their movies within the conversion window.",
    ["arm", "position"])
PENDING_LISTS = Gauge(
    "movierecs_pending_conversion_lists", "Served lists this worker waits on for a conversion.")
ROLLBACKS = Counter(
    "movierecs_rollout_rollbacks_total",
    "Canary rollbacks this worker decided (the guard runs on the leader), by reason.",
    ["model", "reason"])
SERVED_LISTS = Counter(
    "movierecs_rollout_served_lists_total", "Lists served (status 200), by arm: the denominator of conversion.",
    ["arm"])
MODEL_LOAD_SECONDS = Histogram(
    "movierecs_model_load_seconds", "Time to load and check one model version from the registry.", ["model_name"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
SHADOW_ANSWERS = Counter(
    "movierecs_shadow_answers_total", "Requests a shadow version scored off the answer's path, by outcome.",
    ["outcome"])
SHADOW_OVERLAP = Histogram(
    "movierecs_shadow_overlap_ratio", "Share of the served list that the shadow version's list also had.",
    buckets=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
MODEL_VERSIONS_LOADED = Gauge(
    "movierecs_model_versions_loaded", "Model versions this worker holds in memory (stable, canary, arms, shadow).")
MODEL_MEMORY_BYTES = Gauge(
    "movierecs_model_memory_bytes", "Bytes of the arrays of every model version this worker holds.")
MODEL_LOAD_FAILURES = Counter(
    "movierecs_model_load_failures_total", "Model versions the rollout state named that failed to load.")
RETRAIN_RUNS = Counter(
    "movierecs_retrain_runs_total",
    "Scheduled or manual retraining runs by outcome: canary, gated, skipped or failed.", ["outcome"])
RETRAIN_LAST_RUN = Gauge(
    "movierecs_retrain_last_run_timestamp_seconds", "When a retraining run last ended, by outcome.", ["outcome"])
RETRAIN_LAST_SUCCESS = Gauge(
    "movierecs_retrain_last_success_timestamp_seconds", "When a retraining run last registered a version.")
