"""The admin token check: 401 without a token, 403 with a wrong one, through only with the right one."""
from __future__ import annotations

import pytest

from app.auth import Denied, bearer, check_admin
from app.settings import Settings


def test_bearer_reads_only_the_bearer_scheme() -> None:
    assert bearer({"Authorization": "Bearer s3cret"}) == "s3cret"
    assert bearer({"Authorization": "bearer  s3cret "}) == "s3cret"
    assert bearer({"Authorization": "Basic czNjcmV0"}) is None
    assert bearer({"Authorization": "Bearer "}) is None
    assert bearer({}) is None


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Basic abc"}, 401),
    ({"Authorization": "Bearer wrong"}, 403),
    ({"Authorization": "Bearer s3cret-but-longer"}, 403),
])
def test_admin_token_refused(headers: dict[str, str], status: int) -> None:
    with pytest.raises(Denied) as caught:
        check_admin(headers, Settings(admin_token="s3cret"))
    assert caught.value.status == status


def test_admin_token_accepted() -> None:
    check_admin({"Authorization": "Bearer s3cret"}, Settings(admin_token="s3cret"))


def test_no_configured_token_refuses_everyone() -> None:
    with pytest.raises(Denied) as caught:
        check_admin({"Authorization": "Bearer "}, Settings(admin_token=""))
    assert caught.value.status == 401
    assert "MOVIE_RECS_ADMIN_TOKEN" in caught.value.detail
