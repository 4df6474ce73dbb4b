"""Static membership options, the assignor condition, the /health cluster check, and what a start overlaps."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.types import TP

from app.cluster import cluster_status, membership_options, table_partitions, uses_faust_assignor
from app.partitioning import partition_of
from app.settings import Settings


def test_static_membership_names_the_member_by_the_worker_id() -> None:
    options = membership_options(Settings(session_timeout_s=9.0, heartbeat_interval_s=1.0), "worker-2")
    assert options == {"consumer_group_instance_id": "worker-2", "broker_session_timeout": 9.0,
                       "broker_heartbeat_interval": 1.0}
    assert membership_options(Settings(static_membership=False), "worker-2")["consumer_group_instance_id"] is None


def test_heartbeats_come_at_least_three_times_per_session() -> None:
    options = membership_options(Settings(session_timeout_s=6.0, heartbeat_interval_s=5.0), "w")
    assert options["broker_heartbeat_interval"] == 2.0


def test_a_session_shorter_than_the_brokers_minimum_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(session_timeout_s=3.0)


def test_the_worker_app_is_assigned_by_faust_not_round_robin() -> None:
    import tables  # noqa: F401 - registers the changelog tables, as autodiscovery does
    from app import app

    assert app.conf.consumer_group_instance_id and app.conf.broker_session_timeout == Settings().session_timeout_s
    assert uses_faust_assignor(app)


def test_only_table_partitions_count(faust_test_app: dict) -> None:
    from faust.types import TP

    import tables.catalog, tables.spam  # noqa: F401 - a global and a one-partition table
    from app import app
    from tables import user_history

    changelog = user_history.changelog_topic.get_topic_name()
    tps = {TP(changelog, 3), TP(changelog, 1), TP("some-source-topic", 5)}
    single = [t for t in app.tables.values() if t.partitions != user_history.partitions or t.is_global]
    assert single, "a global or one-partition table to leave out"
    tps |= {TP(t.changelog_topic.get_topic_name(), 0) for t in single}  # on every worker, or one
    assert table_partitions(app, tps) == [1, 3]


def test_health_says_recovering_until_the_tables_are_rebuilt(faust_test_app: dict,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from app import app

    recovery = app.tables.recovery
    monkeypatch.setattr(app, "rebalancing", False)
    recovery.completed.clear()
    ok, shown = cluster_status(app)
    assert not ok and shown["recovery"] == "recovering"
    recovery.completed.set()
    ok, shown = cluster_status(app)
    assert ok and shown["recovery"] == "done" and shown["faust_assignor"] is True
    monkeypatch.setattr(app, "rebalancing", True)
    assert not cluster_status(app)[0]


def test_an_owned_user_is_not_answered_while_the_tables_recover(faust_test_app: dict,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from app import app
    from app.views import on_owner
    from tables import user_history

    answered: list[str] = []

    class View:
        def json(self, body: dict, status: int = 200) -> tuple[int, dict]:
            return status, body

    async def answer(view: View, request: SimpleNamespace, user_id: str) -> tuple[int, dict]:
        answered.append(user_id)
        return 200, {}

    handler = on_owner(user_history, "user_id")(answer)
    request = SimpleNamespace(match_info={"user_id": "42"})
    monkeypatch.setattr(app.assignor, "is_active", lambda tp: True)  # this worker owns user 42
    monkeypatch.setattr(app, "rebalancing", False)
    recovery = app.tables.recovery
    owner = TP(user_history.changelog_topic.get_topic_name(), partition_of(b"42", user_history.partitions))
    recovery.completed.clear()
    recovery.active_tps.add(owner)
    recovery.active_highwaters[owner], recovery.active_offsets[owner] = 100, 40  # 60 rows still to read
    status, body = asyncio.run(handler(View(), request, user_id="42"))
    assert (status, body["error"], answered) == (503, "recovering", [])
    recovery.active_offsets[owner] = 100  # kept through the rebalance, or caught up: answered
    assert asyncio.run(handler(View(), request, user_id="42"))[0] == 200 and answered == ["42"]
    recovery.active_tps.discard(owner)
    recovery.active_highwaters.pop(owner), recovery.active_offsets.pop(owner)
    recovery.completed.set()
    assert asyncio.run(handler(View(), request, user_id="42"))[0] == 200 and answered == ["42", "42"]


def test_the_replay_starts_with_the_worker_and_the_model_load_at_the_assignment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import faust

    import agents.deployments, agents.rollout  # noqa: E401 - register their tasks, as autodiscovery does
    from app import app
    from app.worker import EARLY_TASKS, BoundedStopWorker

    assert agents.rollout.follow_model_events in EARLY_TASKS["start"]
    assert agents.deployments.keep_deployed in EARLY_TASKS["assignment"]
    assert not {agents.deployments.keep_deployed, agents.rollout.follow_model_events} & set(app._app_tasks)
    order: list[str] = []
    receivers: list = []

    async def discovered(self: faust.Worker) -> None:
        order.append("autodiscover")

    async def replay() -> None:
        order.append("replay")

    async def load() -> None:
        order.append("load")

    async def start_then_assign() -> None:
        await worker.on_first_start()
        await asyncio.sleep(0.01)
        order.append("assigned")
        for receiver in receivers:  # what Faust's on_partitions_assigned signal does after tables.on_rebalance
            await receiver(app, set())
        await asyncio.sleep(0.01)

    monkeypatch.setattr(faust.Worker, "on_first_start", discovered)
    monkeypatch.setattr("app.worker.EARLY_TASKS", {"start": [replay], "assignment": [load]})
    worker = BoundedStopWorker.__new__(BoundedStopWorker)  # no service tree: only the start hook runs
    worker.app = SimpleNamespace(add_future=asyncio.ensure_future,
                                 on_partitions_assigned=SimpleNamespace(connect=receivers.append))
    asyncio.run(start_then_assign())
    assert order == ["autodiscover", "replay", "assigned", "load"]


def test_the_table_manager_subscribes_to_the_changelogs_without_sleeping_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import app
    from app.cluster import PromptTableManager

    assert isinstance(app.tables, PromptTableManager)
    calls: list[str] = []

    async def update_channels() -> None:
        calls.append("channels")

    async def sleep(seconds: float) -> None:
        calls.append(f"sleep {seconds}")

    async def start_recovery() -> None:
        calls.append("recovery")

    monkeypatch.setattr(app.tables, "_update_channels", update_channels)
    monkeypatch.setattr(app.tables, "sleep", sleep)
    monkeypatch.setattr(app.tables.recovery, "start", start_recovery)
    asyncio.run(app.tables.on_start())
    assert calls == ["channels", "recovery"]  # Faust's slept 1 s first


def test_a_recovery_overtaken_by_a_rebalance_starts_over_instead_of_seeking_unbuilt_offsets() -> None:
    from collections import Counter

    from faust.tables.recovery import RebalanceAgain

    from app import app
    from app.cluster import RebalanceRecovery

    recovery = app.tables.recovery
    assert isinstance(recovery, RebalanceRecovery)
    sought: list[dict[TP, int]] = []

    class Consumer:
        async def seek_wait(self, offsets: dict[TP, int]) -> None:
            sought.append(offsets)

    built, joined = TP("t-changelog", 0), TP("t-changelog", 1)
    offsets = Counter({built: 41})
    asyncio.run(recovery._seek_offsets(Consumer(), {built}, offsets, "standby"))
    assert sought == [{built: 41}]
    # What Faust's on_rebalance does meanwhile: the new partition's offset is None until the
    # next recovery builds it, then the signal (aiokafka's seek raised on the None: the worker died).
    offsets[joined] = None
    recovery.signal_recovery_start.set()
    try:
        with pytest.raises(RebalanceAgain):
            asyncio.run(recovery._seek_offsets(Consumer(), {built, joined}, offsets, "standby"))
    finally:
        recovery.signal_recovery_start.clear()
    assert sought == [{built: 41}]
