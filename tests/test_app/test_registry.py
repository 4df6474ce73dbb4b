"""The registry round trip on both stores: train, register, load, verify hashes, serve; gate; stages."""
from __future__ import annotations

import pytest

from app.registry import ArtifactMismatch, GateRefused, Registry, RegistryError, metric
from models.data.synthetic import generate
from models.training import train
from tests.s3server import file_store, s3_endpoint, s3_store, store  # noqa: F401

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def frame():
    return generate(n_users=200, n_movies=300, n_interactions=8_000, seed=1)[0]


@pytest.fixture(scope="module")
def trained(frame):
    return {name: train(name, frame, tune=False, progress=False, refit_all=True)
            for name in ("popularity", "itemcf")}


def card_of(result, **extra):
    return {**result.model_card(), "git_sha": "abc123", "data_snapshot_id": "sha256:test", **extra}


async def test_round_trip_verifies_hashes_and_serves(store, trained, frame) -> None:
    registry = Registry(store)
    result = trained["itemcf"]
    version = await registry.register(result.bundle, card_of(result))
    bundle, card = await registry.load("itemcf", version)
    assert card["version"] == version and card["git_sha"] == "abc123"
    assert set(card["artifacts"]) >= {"model.json", "ids.npz"}
    user = int(frame["user_id"].iloc[0])
    assert bundle.recommend(user, 10).movie_ids == result.bundle.recommend(user, 10).movie_ids
    assert len(bundle.recommend(user, 10).movie_ids) == 10


async def test_a_changed_artifact_is_refused_at_load(store, trained) -> None:
    registry = Registry(store)
    version = await registry.register(trained["popularity"].bundle, card_of(trained["popularity"]))
    await store.put(f"popularity/{version}/ids.npz", b"tampered")
    with pytest.raises(ArtifactMismatch, match="ids.npz"):
        await registry.load("popularity", version)


async def test_gate_refuses_worse_than_popularity_and_regressions(file_store, trained) -> None:
    registry = Registry(file_store)
    popular = trained["popularity"]
    await registry.register(popular.bundle, card_of(popular))
    good = await registry.register(trained["itemcf"].bundle, card_of(trained["itemcf"]))
    assert metric(await registry.card("itemcf", good)) > metric(await registry.card("popularity"))
    await registry.promote("itemcf", good, max_regression=0.005)

    worse_metrics = [{**m, "ndcg@10": 0.0} for m in trained["itemcf"].metrics]
    worse = await registry.register(trained["itemcf"].bundle,
                                    card_of(trained["itemcf"], metrics=worse_metrics, created_at=2e9))
    with pytest.raises(GateRefused, match="not above most-popular"):
        await registry.promote("itemcf", worse, max_regression=0.005)

    slight = [{**m, "ndcg@10": m["ndcg@10"] - 0.01} for m in trained["itemcf"].metrics]
    slightly = await registry.register(trained["itemcf"].bundle,
                                       card_of(trained["itemcf"], metrics=slight, created_at=2.1e9))
    with pytest.raises(GateRefused, match="regresses production"):
        await registry.promote("itemcf", slightly, max_regression=0.005)
    stages = await registry.promote("itemcf", slightly, max_regression=0.005, force_reason="hotfix")
    assert stages["production"] == slightly and stages["history"][-1]["reason"] == "hotfix"


async def test_rollback_walks_back_the_promotions(file_store, trained) -> None:
    registry = Registry(file_store)
    first = await registry.register(trained["popularity"].bundle, card_of(trained["popularity"], created_at=1e9))
    second = await registry.register(trained["popularity"].bundle, card_of(trained["popularity"], created_at=1.1e9))
    assert await registry.versions("popularity") == [first, second]
    await registry.promote("popularity", first, max_regression=1)
    await registry.promote("popularity", second, max_regression=1)
    assert (await registry.rollback("popularity"))["production"] == first
    with pytest.raises(RegistryError, match="no earlier production"):
        await registry.rollback("popularity")


async def test_gate_compares_like_with_like_from_the_candidates_own_split(file_store, trained, frame) -> None:
    from models.baselines import baseline_metrics
    from models.evaluation import leave_last_split

    registry = Registry(file_store)
    split = leave_last_split(frame)
    itemcf = trained["itemcf"]
    # Another card's numbers (say from other data) must not matter: a most-popular card far better.
    fake_popular = [{**m, "ndcg@10": 0.99} for m in trained["popularity"].metrics]
    await registry.register(trained["popularity"].bundle, card_of(trained["popularity"], metrics=fake_popular))
    first_baselines = baseline_metrics("itemcf", frame, split, None)
    assert first_baselines["production"] is None
    assert first_baselines["popularity"]["ndcg@10"] == pytest.approx(
        metric({"model_name": "p", "metrics": train("popularity", frame, tune=False, progress=False,
                                                    split=split).metrics}))
    first = await registry.register(itemcf.bundle, card_of(itemcf, baselines=first_baselines))
    stages = await registry.promote("itemcf", first, max_regression=0.005)
    assert "same split" in stages["history"][-1]["reason"]

    production_card = await registry.card("itemcf", first)
    baselines = baseline_metrics("itemcf", frame, split, production_card)
    assert baselines["production"]["version"] == first
    same = await registry.register(itemcf.bundle, card_of(itemcf, baselines=baselines, created_at=3e9))
    reason = (await registry.promote("itemcf", same, max_regression=0.005))["history"][-1]["reason"]
    assert f"vs production {first}" in reason and "same split" in reason

    stale = await registry.register(itemcf.bundle, card_of(itemcf, baselines=baselines, created_at=3.1e9))
    with pytest.raises(GateRefused, match="not compared with production"):
        await registry.promote("itemcf", stale, max_regression=0.005)  # production is `same` now
