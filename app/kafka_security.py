"""Kafka security settings (SASL/SSL) for Faust and for plain aiokafka clients alike.

``check_brokers`` is the startup probe: one connection with the configured protocol and
credentials, under a timeout, so a worker or CLI with a wrong password, an untrusted CA or
the wrong port exits at once with the reason instead of a retry loop or a buried traceback.
"""
from __future__ import annotations

import asyncio
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed

from app.kafka_errors import HINT
from app.settings import Settings

PROTOCOLS = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}


def _protocol(settings: Settings) -> str:
    protocol = settings.security_protocol.upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown security protocol {settings.security_protocol!r}")
    return protocol


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ssl_cafile or None)


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust's credentials for the configured protocol (None for PLAINTEXT)."""
    protocol = _protocol(settings)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(_ssl_context(settings))
    return faust.SASLCredentials(
        username=settings.sasl_username, password=settings.sasl_password,
        mechanism=settings.sasl_mechanism,
        ssl_context=_ssl_context(settings) if protocol == "SASL_SSL" else None)


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka producers, consumers and admin clients."""
    protocol = _protocol(settings)
    kwargs: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap,
                              "security_protocol": protocol}
    if protocol in {"SSL", "SASL_SSL"}:
        kwargs["ssl_context"] = _ssl_context(settings)
    if protocol.startswith("SASL"):
        kwargs.update(sasl_mechanism=settings.sasl_mechanism,
                      sasl_plain_username=settings.sasl_username,
                      sasl_plain_password=settings.sasl_password)
    return kwargs


class KafkaAccessError(RuntimeError):
    """No bootstrap broker accepted this process's connection; ``str(exc)`` says why, per broker."""


def _reason(exc: BaseException, settings: Settings, timeout_s: float) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the broker's TLS certificate is not trusted ({exc.verify_message}); "
                f"MOVIE_RECS_SSL_CAFILE={settings.ssl_cafile or '(system CAs)'} must hold the CA that signed it")
    if isinstance(exc, SaslAuthenticationFailed):
        return (f"SASL {settings.sasl_mechanism} login as {settings.sasl_username!r} was refused: check "
                f"MOVIE_RECS_SASL_USERNAME, MOVIE_RECS_SASL_PASSWORD and MOVIE_RECS_SASL_MECHANISM ({exc})")
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens there ({exc}); {HINT}"
    if isinstance(exc, asyncio.TimeoutError):
        return (f"no Kafka answer within {timeout_s:g} s with {settings.security_protocol} "
                "(a listener of another protocol, or unreachable)")
    return f"{exc} (does this listener speak {settings.security_protocol}?)"


async def probe_brokers(settings: Settings, timeout_s: float) -> None:
    """Return once a bootstrap broker accepts a connection (TLS and SASL included), else raise ``KafkaAccessError``."""
    kwargs = client_kwargs(settings)
    reasons = []
    for address in settings.kafka_bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(create_conn(
                host.strip("[]"), int(port), request_timeout_ms=int(timeout_s * 1000),
                security_protocol=kwargs["security_protocol"], ssl_context=kwargs.get("ssl_context"),
                sasl_mechanism=kwargs.get("sasl_mechanism"), sasl_plain_username=kwargs.get("sasl_plain_username"),
                sasl_plain_password=kwargs.get("sasl_plain_password")), timeout_s)
        except (OSError, KafkaError, ValueError, asyncio.TimeoutError) as exc:
            reasons.append(f"{address.strip()}: {_reason(exc, settings, timeout_s)}")
            continue
        conn.close()
        return
    raise KafkaAccessError("cannot use Kafka: " + "; ".join(reasons))


def check_brokers(settings: Settings) -> None:
    """``probe_brokers`` from synchronous code (in its own thread, so any running loop is left alone)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, probe_brokers(settings, settings.startup_probe_timeout_s)).result()
