"""Tracing helpers: off costs nothing, on they continue a producer's trace across the Kafka hop."""
from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Iterator

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id

from app.observability import tracing
from app.settings import Settings
from tests.test_agents.test_recommend import serving  # noqa: F401 - fixtures
from tests.test_app.test_serving import deployed  # noqa: F401


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(Settings(), SimpleSpanProcessor(exporter))
    yield exporter
    tracing.disable()


def client_headers(tracer: trace.Tracer, name: str) -> tuple[trace.Span, list[tuple[str, bytes]]]:
    """What an outside producer sends: its span's context as a ``traceparent`` header."""
    span = tracer.start_span(name, kind=SpanKind.PRODUCER)
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    span.end()
    return span, [(k, v.encode()) for k, v in carrier.items()]


def message(headers: list[tuple[str, bytes]] | None) -> SimpleNamespace:
    return SimpleNamespace(topic="p-reco-requests", partition=2, offset=41, key=b"42", headers=headers)


def test_off_nothing_is_traced_or_touched() -> None:
    tracing.disable()
    record = {"request_id": "r1"}
    assert tracing.kafka_answered(message(None), record, time.perf_counter(), "p-reco-responses") is None
    assert record == {"request_id": "r1"}
    assert tracing.http_answered(SimpleNamespace(headers={}), record, time.perf_counter(), "/recommend/{user_id}",
                                 "p-reco-responses") is None
    assert record == {"request_id": "r1"}


def test_a_producers_traceparent_is_continued_through_process_and_publish(exported: InMemorySpanExporter) -> None:
    client = TracerProvider().get_tracer("outside-client")
    produced, headers = client_headers(client, "p-reco-requests publish")
    record = {"request_id": "r1"}
    started = time.perf_counter() - 0.002
    out = tracing.kafka_answered(message(headers), record, started, "p-reco-responses")
    process, publish = sorted(exported.get_finished_spans(), key=lambda s: s.kind != SpanKind.CONSUMER)
    trace_id = produced.get_span_context().trace_id
    assert process.name == "p-reco-requests process" and publish.name == "p-reco-responses publish"
    assert process.context.trace_id == publish.context.trace_id == trace_id
    assert process.parent.span_id == produced.get_span_context().span_id and publish.parent.span_id == process.context.span_id
    assert process.attributes["messaging.system"] == "kafka"
    assert process.attributes["messaging.destination.name"] == "p-reco-requests"
    assert process.attributes["messaging.kafka.message.key"] == "42"
    assert publish.attributes["messaging.destination.name"] == "p-reco-responses"
    assert publish.attributes["messaging.kafka.message.key"] == "r1"
    assert (process.end_time - process.start_time) >= 1_500_000  # began when the request arrived
    assert record["trace_id"] == format_trace_id(trace_id)
    carried = dict(out)
    assert carried["traceparent"].decode().split("-")[1:3] == [format_trace_id(trace_id),
                                                               format(publish.context.span_id, "016x")]


def test_a_request_without_context_starts_a_trace_of_its_own(exported: InMemorySpanExporter) -> None:
    record = {"request_id": "r2"}
    tracing.kafka_answered(message([("unrelated", b"x")]), record, time.perf_counter(), "p-reco-responses")
    process = next(s for s in exported.get_finished_spans() if s.kind == SpanKind.CONSUMER)
    assert process.parent is None and record["trace_id"] == format_trace_id(process.context.trace_id)


def test_an_http_request_continues_its_traceparent_header(exported: InMemorySpanExporter) -> None:
    client = TracerProvider().get_tracer("browser")
    caller, headers = client_headers(client, "GET")
    record = {"request_id": "r3"}
    out = tracing.http_answered(SimpleNamespace(headers={k.title(): v.decode() for k, v in headers}), record,
                                time.perf_counter(), "/recommend/{user_id}", "p-reco-responses")
    server, publish = sorted(exported.get_finished_spans(), key=lambda s: s.kind != SpanKind.SERVER)
    assert server.kind == SpanKind.SERVER and server.name == "GET /recommend/{user_id}"
    assert server.parent.span_id == caller.get_span_context().span_id
    assert record["trace_id"] == format_trace_id(caller.get_span_context().trace_id)
    # the answer's reco-responses copy carries a publish span under the server span
    assert publish.name == "p-reco-responses publish" and publish.parent.span_id == server.context.span_id
    assert publish.attributes["messaging.kafka.message.key"] == "r3"
    assert dict(out)["traceparent"].decode().split("-")[1:3] == [record["trace_id"],
                                                                 format(publish.context.span_id, "016x")]


def test_trace_context_is_kept_for_a_copy_and_nothing_else() -> None:
    headers = [("traceparent", b"00-ab-cd-01"), ("movierecs-origin", b"x"), ("TraceState", b"k=v")]
    assert tracing.trace_context(headers) == [("traceparent", b"00-ab-cd-01"), ("TraceState", b"k=v")]
    assert tracing.trace_context({"traceparent": b"t"}) == [("traceparent", b"t")] and tracing.trace_context(None) == []


async def test_the_agent_continues_a_clients_trace_and_a_stray_keeps_it(serving, deployed,  # noqa: F811
                                                                        exported: InMemorySpanExporter) -> None:
    from agents.recommend import answer_requests
    from app.partitioning import partition_of, user_key
    from tables import trace_key, traces
    from tests.test_agents.test_recommend import encoded

    produced, headers = client_headers(TracerProvider().get_tracer("client"), "reco-requests publish")
    user = int(deployed.bundle.maps.users.raw[0])
    owner = partition_of(user_key(user), 8)
    async with answer_requests.test_context() as agent:
        await agent.put(encoded("traced", user), key=user_key(user), partition=owner, headers=headers)
        await agent.put(encoded("stray", user), key=user_key(user), partition=(owner + 1) % 8, headers=headers)
        await asyncio.sleep(0.1)
    trace_id = produced.get_span_context().trace_id
    (answered,) = serving["reco-responses"].call_args_list
    assert dict(answered.kwargs["headers"])["traceparent"].decode().split("-")[1] == format_trace_id(trace_id)
    spans = exported.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {trace_id}
    (process,) = [s for s in spans if s.kind == SpanKind.CONSUMER]  # the stray is moved, not answered
    assert process.name.endswith(" process") and process.parent.span_id == produced.get_span_context().span_id
    assert traces.row(trace_key(owner, "traced"))["request"]["trace_id"] == format_trace_id(trace_id)
    (moved,) = serving["reco-requests-rerouted"].call_args_list
    assert ("traceparent", dict(headers)["traceparent"]) in moved.kwargs["headers"]
