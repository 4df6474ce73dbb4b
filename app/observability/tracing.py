"""OpenTelemetry spans across Kafka hops, with W3C ``traceparent`` carried in message headers.

Off unless ``MOVIE_RECS_OTLP_ENDPOINT`` is set: then every helper returns at its first line,
before any tracer, context or header work. On, a request from Kafka gets a
``<topic> process`` span (a child of the producer's span when its message carries a
``traceparent``, so an outside client's trace is continued) and its answer a
``<topic> publish`` span whose context goes out in the answer's headers; an HTTP request gets
a server span that honours an incoming ``traceparent`` header, and the answer's
``reco-responses`` copy a publish span under it, carried in that copy's headers likewise. The trace id is written into
the request, so ``/trace/{request_id}`` shows it. Span names and attributes follow the
OpenTelemetry messaging conventions.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanProcessor
from opentelemetry.trace import SpanKind, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.settings import Settings, get_settings

Headers = list[tuple[str, bytes]]
_tracer: trace.Tracer | None = None
W3C = TraceContextTextMapPropagator()
"""``traceparent``/``tracestate`` only: cheaper than the default composite with baggage."""


def configure(settings: Settings, processor: SpanProcessor | None = None) -> TracerProvider | None:
    """Turn tracing on: OTLP/HTTP export to the configured endpoint, or ``processor`` (tests)."""
    global _tracer
    if processor is None:
        if not settings.otlp_endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint))
    from app.faust_app import worker_id
    provider = TracerProvider(resource=Resource.create({"service.name": "movie-recs",
                                                        "service.instance.id": worker_id(settings)}))
    provider.add_span_processor(processor)
    _tracer = provider.get_tracer("movie-recs")
    return provider


def disable() -> None:
    """Tracing off again (tests)."""
    global _tracer
    _tracer = None


def _carrier(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return {name.lower(): (value.decode("latin-1") if isinstance(value, bytes) else str(value))
            for name, value in items if value is not None}


def trace_context(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> Headers:
    """The W3C trace headers of a message, to pass on with a copy of it (a rerouted request).

    Passed on whether or not this worker traces: the worker that answers may.
    """
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [(name, value) for name, value in items if name.lower() in W3C.fields]


def _wall_ns(started: float) -> int:
    """The wall-clock time of a ``time.perf_counter()`` reading (spans take epoch nanoseconds)."""
    return time.time_ns() - int((time.perf_counter() - started) * 1e9)


def _messaging(destination: str, key: bytes | str | None) -> dict[str, str]:
    attributes = {"messaging.system": "kafka", "messaging.destination.name": destination}
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode(errors="replace") if isinstance(key, bytes) else key
    return attributes


def kafka_answered(message: Any, record: dict[str, Any], started: float, reply_topic: str) -> Headers | None:
    """Spans of a request consumed from Kafka and its answer; the answer's headers, or None when off.

    The process span starts when the request arrived (``started``) and ends here, once the
    answer is made; the publish span carries the context the answer's headers pass on.
    """
    if _tracer is None:
        return None
    parent = W3C.extract(_carrier(message.headers))
    process = _tracer.start_span(f"{message.topic} process", context=parent, kind=SpanKind.CONSUMER,
                                 start_time=_wall_ns(started),
                                 attributes={**_messaging(message.topic, message.key),
                                             "messaging.operation.type": "process",
                                             "messaging.destination.partition.id": str(message.partition),
                                             "messaging.kafka.offset": message.offset,
                                             "movierecs.request_id": record.get("request_id", "")})
    record["trace_id"] = format_trace_id(process.get_span_context().trace_id)
    headers = _publish(process, reply_topic, record.get("request_id"))
    process.end()
    return headers


def _publish(parent: trace.Span, destination: str, key: str | None) -> Headers:
    span = _tracer.start_span(f"{destination} publish", context=trace.set_span_in_context(parent),
                              kind=SpanKind.PRODUCER,
                              attributes={**_messaging(destination, key), "messaging.operation.type": "publish"})
    carrier: dict[str, str] = {}
    W3C.inject(carrier, context=trace.set_span_in_context(span))
    span.end()
    return [(name, value.encode()) for name, value in carrier.items()]


def http_answered(request: Any, record: dict[str, Any], started: float, route: str,
                  reply_topic: str) -> Headers | None:
    """The server span of an HTTP answer, continuing a ``traceparent`` request header; the
    headers of the answer's copy on ``reply_topic`` (its publish span), or None when off."""
    if _tracer is None:
        return None
    parent = W3C.extract(_carrier(request.headers.items()))
    span = _tracer.start_span(f"GET {route}", context=parent, kind=SpanKind.SERVER, start_time=_wall_ns(started),
                              attributes={"http.request.method": "GET", "http.route": route,
                                          "movierecs.request_id": record["request_id"]})
    record["trace_id"] = format_trace_id(span.get_span_context().trace_id)
    headers = _publish(span, reply_topic, record["request_id"])
    span.end()
    return headers


PROVIDER = configure(get_settings())
"""The worker's tracer provider when an OTLP endpoint is configured (flushed at exit by the SDK)."""
