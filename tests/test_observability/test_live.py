"""Live: a real worker scraped by a real Prometheus (docker/'s config), alerts through a real
Alertmanager to a Slack-shaped sink, the operator page in Chromium, and the dashboards' queries."""
from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import pytest

from app.partitioning import partition_of
from tests.test_observability.conftest import Observed, produce
from tests.test_observability.stack import WORKER_JOB, Prometheus, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


def test_the_worker_answered_scrapes_before_it_had_a_model(observed: Observed) -> None:
    metrics = [(status, body) for path, status, body in observed.early if path == "/metrics"]
    health = [(status, body) for path, status, body in observed.early if path == "/health"]
    assert metrics and all(status == 200 for status, _ in metrics)
    assert all("movierecs_tables_recovered" in body for _, body in metrics)
    assert health and all(status == 503 and body["status"] == "unavailable" for status, body in health)
    assert all("lag" in body and "uptime_s" in body for _, body in health)
    last = health[-1][1]
    assert last["status"] == "unavailable" and last["tables"]["recovered"] is True
    assert set(last["lag"]["groups"]) == {observed.app_id, f"{observed.app_id}-snapshots"}
    assert not any(group["stale"] for group in last["lag"]["groups"].values())  # read without a model


def test_request_counter_histogram_and_lag_arrive_with_their_labels(prometheus: Prometheus, observed: Observed) -> None:
    instance = f"127.0.0.1:{observed.worker.port}"
    answers = wait_until(lambda: prometheus.query(
        f'movierecs_answers_total{{job="{WORKER_JOB}",instance="{instance}",via="http",status="200"}}'), 30, "answers")
    assert sum(float(s["value"][1]) for s in answers) >= 40 and all(s["metric"]["strategy"] for s in answers)
    buckets = prometheus.query(f'movierecs_answer_seconds_bucket{{job="{WORKER_JOB}",via="http"}}')
    assert {s["metric"]["le"] for s in buckets} >= {"0.001", "+Inf"}
    count = prometheus.query(f'sum(movierecs_answer_seconds_count{{job="{WORKER_JOB}",via="http"}})')
    assert float(count[0]["value"][1]) >= 40
    selector = f'job="{WORKER_JOB}",group="{observed.app_id}",topic="{observed.prefix}watch"'
    lag = wait_until(lambda: prometheus.query(f"movierecs_consumer_lag{{{selector}}}"), 60, "watch lag of the group")
    written = {str(partition_of(str(user).encode(), 4)) for user in range(1, 41)}  # the fixture's watch events
    assert {s["metric"]["partition"] for s in lag} == written
    wait_until(lambda: prometheus.query(f"sum(movierecs_consumer_lag{{{selector}}}) == 0"), 60, "the group caught up")
    stale = prometheus.query(f'movierecs_consumer_lag_stale{{job="{WORKER_JOB}",group="{observed.app_id}"}}')
    assert float(stale[0]["value"][1]) == 0
    assert prometheus.query(f'movierecs_tables_recovered{{instance="{instance}"}} == 1')
    rows = prometheus.query(f'movierecs_table_rows{{instance="{instance}",table="user_history"}}')
    assert float(rows[0]["value"][1]) >= 1
    build = prometheus.query(f'movierecs_build_info{{instance="{instance}"}}')
    assert build and build[0]["metric"]["git_sha"]
    dead = wait_until(lambda: prometheus.query(f'movierecs_dead_letters_total{{job="{WORKER_JOB}",instance="{instance}"}}'),
                      30, "dead letters")
    assert sum(float(s["value"][1]) for s in dead) >= 2 and all(s["metric"]["reason"] for s in dead)


def test_worker_down_fires_for_our_job_name(prometheus: Prometheus, dead_target: str) -> None:
    firing = wait_until(lambda: prometheus.firing("MovieRecsWorkerDown"), 60, "MovieRecsWorkerDown firing")
    assert [a["labels"]["instance"] for a in firing] == [dead_target]
    assert all(a["labels"]["job"] == WORKER_JOB for a in firing)
    assert not prometheus.firing("MovieRecsServiceDown")  # the other worker is up


def test_a_firing_rule_reaches_slack_through_the_real_alertmanager(prometheus: Prometheus, slack_sink,
                                                                  dead_target: str) -> None:
    def worker_down_message() -> list[dict]:
        return [m for m in slack_sink.json_messages()
                if "MovieRecsWorkerDown" in m.get("attachments", [{}])[0].get("title", "")]
    messages = wait_until(worker_down_message, 90, "the WorkerDown message at the Slack sink")
    message = messages[0]
    assert message["path"] == "/services/T0/B0/test-hook"  # the URL came from the secret file
    assert message["channel"] == "#movie-recs-alerts"  # a warning, not the critical channel
    attachment = message["attachments"][0]
    assert attachment["title"].startswith("[FIRING:1] MovieRecsWorkerDown (warning)")
    assert f"Worker {dead_target} is down" in attachment["text"]


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    """Headless Chromium with a fresh profile and nothing fetched but the page."""
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
                           "--virtual-time-budget=8000", *extra, url],
                          capture_output=True, text=True, timeout=120)


def test_operator_page_shows_live_figures_in_chromium(observed: Observed, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{observed.worker.port}/"
    wait_until(lambda: not json.loads(observed.worker.get("/operator/data")[1])["lag"][observed.app_id]["stale"],
               60, "a lag reading")
    done = chromium(url, tmp_path / "profile-dom", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    for figure in ("fig-ingest", "fig-lag", "fig-answers", "fig-latency", "fig-tables", "fig-trust"):
        section = dom.split(f'id="{figure}"', 1)[1].split("</section>", 1)[0]
        assert "<svg" in section and ("<rect" in section or "<path" in section), f"{figure} is empty:\n{section[:500]}"
    assert "tables recovered" in dom and observed.app_id in dom
    dead = dom.split('id="dead-letters"', 1)[1].split("</section>", 1)[0]
    assert "<table" in dead and observed.prefix + "watch" in dead  # the garbage we sent, with its reason
    shot = tmp_path / "operator-page.png"
    done = chromium(url, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1100",
                    "--hide-scrollbars")
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_dashboard_query_runs_in_the_real_prometheus(prometheus: Prometheus, observed: Observed,
                                                           kafka_bootstrap: str) -> None:
    from tests.test_observability.test_dashboards import all_exprs

    now = int(time.time() * 1000)  # events while Prometheus watches, so rates are not zero
    asyncio.run(produce(kafka_bootstrap, observed.prefix,
                        [{"ts": now, "user_id": u, "movie_id": 7, "minute": 2} for u in range(1, 30)], [b"junk"]))
    with_data = {"Answers per second by status", "Consumer lag by group", "Events ingested per second", "Table rows",
                 "Tables recovered", "Availability: workers up", "Build running", "Dead letters per second by reason",
                 "p99 answer time by channel (SLO 10 ms)", "Exposure Gini by arm",
                 "Catalog coverage by arm (alert < 10%)"}
    wait_until(lambda: prometheus.query("topic:movierecs_events_ingested:rate5m > 0"), 60, "ingest rate recorded")
    wait_until(lambda: prometheus.query("movierecs_fairness_gini"), 60, "fairness gauges (computed every second here)")
    for board, title, expr in all_exprs():
        answer = prometheus.query_range(expr)
        assert answer["status"] == "success", f"{board}/{title}: {expr}\n{answer}"
        if title in with_data:
            assert answer["data"]["result"], f"{board}/{title} shows nothing: {expr}"


async def traced_request(bootstrap: str, prefix: str, tracer, request: dict) -> tuple[dict, list]:
    """An outside client: produce a request in a span of its own, consume the answer and continue the trace."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    from tests.test_integration.test_serving_kafka import frame_avro, unframe_avro

    consumer = AIOKafkaConsumer(prefix + "reco-responses", bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                group_id=f"traced-{request['request_id']}")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.1)
        await consumer.seek_to_end()
        with tracer.start_as_current_span(f"{prefix}reco-requests publish", kind=SpanKind.PRODUCER):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            await producer.send_and_wait(prefix + "reco-requests", frame_avro("RecoRequest", request),
                                         key=str(request["user_id"]).encode(),
                                         headers=[(k, v.encode()) for k, v in carrier.items()])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key != request["request_id"].encode():
                        continue
                    context = propagate.extract({k: v.decode() for k, v in record.headers})
                    with tracer.start_as_current_span(f"{prefix}reco-responses process", context=context,
                                                      kind=SpanKind.CONSUMER):
                        answer = unframe_avro("RecoResponse", record.value)
                    return answer, list(record.headers)
        raise AssertionError("no answer")
    finally:
        await producer.stop()
        await consumer.stop()


def test_one_trace_spans_the_clients_produce_the_workers_answer_and_the_response(
        observed: Observed, otlp_sink, kafka_bootstrap: str) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import format_span_id, format_trace_id

    client_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(client_spans))
    request = {"request_id": f"traced-{time.time_ns()}", "ts": int(time.time() * 1000), "user_id": 5, "k": 5,
               "client_id": "outside", "exclude": []}
    tracer = provider.get_tracer("client")
    answer, headers = asyncio.run(traced_request(kafka_bootstrap, observed.prefix, tracer, request))
    assert answer["status"] == 200 and "traceparent" in dict(headers)
    produced, consumed = sorted(client_spans.get_finished_spans(), key=lambda s: s.start_time)
    trace_id = produced.context.trace_id
    assert consumed.context.trace_id == trace_id

    def worker_spans() -> dict[str, object]:
        spans = {}
        for _, body in list(otlp_sink.posts):
            export = ExportTraceServiceRequest.FromString(body)
            for resource in export.resource_spans:
                for scope in resource.scope_spans:
                    spans.update({s.name: s for s in scope.spans if s.trace_id == trace_id.to_bytes(16, "big")})
        return spans if len(spans) >= 2 else {}
    spans = wait_until(worker_spans, 30, "the worker's spans at the OTLP sink")
    process = spans[f"{observed.prefix}reco-requests process"]
    publish = spans[f"{observed.prefix}reco-responses publish"]
    assert process.parent_span_id == produced.context.span_id.to_bytes(8, "big")  # the client's span continued
    assert publish.parent_span_id == process.span_id
    assert consumed.parent.span_id.to_bytes(8, "big") == publish.span_id  # the response continues it again
    attributes = {a.key: a.value.string_value for a in process.attributes}
    assert attributes["messaging.system"] == "kafka" and attributes["messaging.kafka.message.key"] == "5"
    status, body = observed.worker.get(f"/trace/{request['request_id']}")
    assert status == 200 and json.loads(body)["request"]["trace_id"] == format_trace_id(trace_id)
    assert format_span_id(consumed.parent.span_id) == publish.span_id.hex()


async def http_answer_copy(bootstrap: str, prefix: str, worker, traceparent: str) -> tuple[dict, dict]:
    """GET /recommend with a ``traceparent`` header; the answer's body and its ``reco-responses`` copy's headers."""
    import urllib.request

    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(prefix + "reco-responses", bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                group_id=f"http-copy-{time.time_ns()}")
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.1)
        await consumer.seek_to_end()
        for tp in consumer.assignment():
            await consumer.position(tp)
        ask = urllib.request.Request(f"http://127.0.0.1:{worker.port}/recommend/7?k=5",
                                     headers={"traceparent": traceparent})
        body = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(ask, timeout=10).read()))
        request_id = body["provenance"]["request_id"].encode()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key == request_id:
                        return body, {k: v.decode() for k, v in record.headers}
        raise AssertionError("the HTTP answer's copy never reached reco-responses")
    finally:
        await consumer.stop()


def test_an_http_answers_reco_responses_copy_continues_the_callers_trace(observed: Observed,
                                                                        kafka_bootstrap: str) -> None:
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    body, headers = asyncio.run(http_answer_copy(kafka_bootstrap, observed.prefix, observed.worker,
                                                 f"00-{caller_trace}-{caller_span}-01"))
    assert body["movies"]
    _, trace_id, span_id, _ = headers["traceparent"].split("-")
    assert trace_id == caller_trace and span_id != caller_span  # the worker's publish span, in the caller's trace
