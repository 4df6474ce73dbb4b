"""API keys and the HTTP rate limit on public routes: 401 without, 403 wrong, 429 with Retry-After."""
from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any

import pytest

import app.auth as auth
from app.auth import Denied, check_api_key, public
from app.metrics import AUTH_DENIED
from app.ratelimit import Limiter
from app.settings import Settings

KEYS = ("alpha-key", "beta-key")
DIGESTS = ",".join(hashlib.sha256(k.encode()).hexdigest() for k in KEYS)


class View:
    """Enough of ``faust.web.View`` for the decorator: ``json`` returns what it was given."""

    def json(self, body: Any, status: int = 200, headers: dict | None = None) -> tuple:
        return status, body, headers or {}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def ok(view: View, request: Any, **kwargs: Any) -> tuple:
    return 200, {"served": kwargs}, {}


def request(headers: dict[str, str] | None = None, remote: str = "10.0.0.1") -> SimpleNamespace:
    return SimpleNamespace(headers=headers or {}, remote=remote)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch):
    def apply(**fields: Any) -> Settings:
        settings = Settings(**fields)
        monkeypatch.setattr(auth, "get_settings", lambda: settings)
        return settings
    return apply


def test_keys_off_by_default() -> None:
    assert check_api_key({}, Settings()) is None


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), ({"X-API-Key": "  "}, 401), ({"X-API-Key": "alpha"}, 403), ({"X-API-Key": "alpha-key2"}, 403),
    ({"X-API-Key": hashlib.sha256(b"alpha-key").hexdigest()}, 403),  # the digest itself is not a key
])
def test_missing_or_wrong_keys_are_refused(headers: dict[str, str], status: int) -> None:
    with pytest.raises(Denied) as caught:
        check_api_key(headers, Settings(api_key_sha256=DIGESTS))
    assert caught.value.status == status


@pytest.mark.parametrize("key", KEYS)
def test_every_listed_key_is_accepted(key: str) -> None:
    assert check_api_key({"X-API-Key": key}, Settings(api_key_sha256=DIGESTS)) == hashlib.sha256(key.encode()).hexdigest()


def test_digest_setting_is_validated_and_normalised() -> None:
    assert Settings(api_key_sha256=f" {DIGESTS.upper()} ,").api_key_sha256 == DIGESTS
    with pytest.raises(ValueError, match="SHA-256"):
        Settings(api_key_sha256="plain-text-key")


async def test_public_route_answers_401_403_as_json_and_counts(configure) -> None:
    configure(api_key_sha256=DIGESTS, http_rate_per_s=0)
    handler = public(ok)
    before = AUTH_DENIED.labels("403")._value.get()
    status, body, headers = await handler(View(), request())
    assert status == 401 and body["error"] == "unauthorized" and "X-API-Key" in body["detail"]
    assert headers["WWW-Authenticate"] == "X-API-Key"
    status, body, _ = await handler(View(), request({"X-API-Key": "nope"}))
    assert status == 403 and body["error"] == "forbidden"
    assert AUTH_DENIED.labels("403")._value.get() == before + 1
    status, body, _ = await handler(View(), request({"X-API-Key": "beta-key"}), user_id="5")
    assert status == 200 and body == {"served": {"user_id": "5"}}


async def test_rate_limit_per_key_with_retry_after(configure) -> None:
    settings = configure(api_key_sha256=DIGESTS, http_rate_per_s=0.5, http_burst=2)
    clock = Clock()
    handler = public(ok, Limiter.build("http", 0.5, 2, settings, clock=clock))
    alpha = request({"X-API-Key": "alpha-key"}, remote="10.0.0.1")
    assert [(await handler(View(), alpha))[0] for _ in range(3)] == [200, 200, 429]
    status, body, headers = await handler(View(), alpha)
    assert status == 429 and body["error"] == "rate limited" and "retry in 2.00 s" in body["detail"]
    assert headers["Retry-After"] == "2"
    same_address_other_key = request({"X-API-Key": "beta-key"}, remote="10.0.0.1")
    assert (await handler(View(), same_address_other_key))[0] == 200, "the bucket follows the key"
    clock.now += 2.0
    assert (await handler(View(), alpha))[0] == 200


async def test_rate_limit_per_address_without_keys_and_exemptions(configure) -> None:
    settings = configure(rate_limit_exempt="10.0.0.9")
    handler = public(ok, Limiter.build("http", 1.0, 1, settings, clock=Clock()))
    assert [(await handler(View(), request(remote="10.0.0.1")))[0] for _ in range(2)] == [200, 429]
    assert (await handler(View(), request(remote="10.0.0.2")))[0] == 200
    assert [(await handler(View(), request(remote="10.0.0.9")))[0] for _ in range(5)] == [200] * 5
