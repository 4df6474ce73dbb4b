"""``movie-recs rollout ...`` and ``movie-recs retrain``: rollouts from the command line.

Each command is checked exactly as ``POST /rollout`` is (``app.rollout.commands``) against
the rollout state, which the CLI folds from ``model-events`` itself, and the registry; only a
valid request is published. ``rollout status`` reads the same figures the workers do (the
``arm_stats`` changelog), so it needs no worker address.
"""
from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click
import orjson
from aiokafka.errors import KafkaError
from faust.cli.faust import cli

from app.model_cli import open_registry, publish_model_event
from app.registry import RegistryError
from app.rollout import report
from app.rollout.commands import RolloutError, parse, plan, stable_version
from app.rollout.state import RolloutState, replay
from app.rollout.stats import merge
from app.schema_registry import codec_for
from app.settings import Settings, get_settings
from app.topic_reader import read_to_end

READ_TIMEOUT_S = 30.0


async def current_state(settings: Settings) -> RolloutState:
    """The rollout state, folded from ``model-events`` as a worker folds it."""
    codec = codec_for("ModelEvent", settings.topic("model-events"))
    records = (await read_to_end(settings, settings.topic("model-events"), READ_TIMEOUT_S, wait=True)).records
    return replay(codec.decode(record.value) for record in records)  # in order per model (per partition)


async def publish(settings: Settings, record: dict[str, Any]) -> None:
    fields = {key: value for key, value in record.items()
              if key not in ("action", "model_name", "model_version", "reason")}
    await publish_model_event(settings, record["action"], record["model_name"], record["model_version"],
                              record["reason"], **fields)


async def submit(settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    """Check ``body`` (a ``POST /rollout`` body) against the state and publish its event."""
    request = parse(body)
    record = await plan(request, await current_state(settings), open_registry(settings), actor="cli",
                        max_regression=settings.promote_max_regression)
    await publish(settings, record)
    return record


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except RolloutError as exc:
        raise click.ClickException(f"{exc.error}: {exc.detail}") from None
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    except (KafkaError, asyncio.TimeoutError, OSError) as exc:
        raise click.ClickException(f"Kafka at {get_settings().kafka_bootstrap} did not answer ({exc!r}); "
                                   "start it with: bash docker/kafka/local-kafka.sh start") from None


def _say(record: dict[str, Any]) -> None:
    what = record["experiment"] or f"{record['model_name']} {record['model_version']}"
    extra = f" at {record['percent']}%" if record["action"] == "canary" else ""
    click.echo(f"published {record['action']} {what}{extra}" + (f": {record['reason']}" if record["reason"] else ""))


def parse_arm(text: str) -> dict[str, Any]:
    """``a=NAME:VERSION`` or ``a=NAME:VERSION@SPEC`` as an arm of a ``POST /rollout`` body."""
    spec, _, reranker = text.partition("@")
    name, _, target = spec.partition("=")
    model, _, version = target.partition(":")
    if not (name and model and version):
        raise click.BadParameter(f"{text!r} is not ARM=NAME:VERSION[@RERANKER]", param_hint="--arm")
    return {"name": name, "model_name": model, "model_version": version, "reranker": reranker or None}


@cli.group()
def rollout() -> None:
    """Canaries, A/B experiments and shadows: published on model-events, served by every worker."""


@rollout.command("canary")
@click.argument("name")
@click.argument("version")
@click.option("--percent", type=int, required=True, help="Percent of users (0..100) the canary serves.")
@click.option("--reranker", default=None, help="A re-ranker spec for the canary's lists.")
def rollout_canary(name: str, version: str, percent: int, reranker: str | None) -> None:
    """Serve VERSION of NAME to a percentage of users beside stable (sticky per user)."""
    _say(_run(submit(get_settings(), {"action": "canary", "model_name": name, "model_version": version,
                                      "percent": percent, "reranker": reranker})))


@rollout.command("ab-start")
@click.argument("experiment")
@click.option("--arm", "arms", multiple=True, required=True,
              help="ARM=NAME:VERSION[@RERANKER]; the first arm is the control.")
@click.option("--split", type=int, default=None, help="Percent of users in the first of two arms (default: even).")
def rollout_ab_start(experiment: str, arms: tuple[str, ...], split: int | None) -> None:
    """Split NAME's users between arms by a hash of (user, EXPERIMENT)."""
    _say(_run(submit(get_settings(), {"action": "ab_start", "experiment": experiment,
                                      "arms": [parse_arm(arm) for arm in arms], "split": split})))


@rollout.command("ab-stop")
@click.argument("experiment")
def rollout_ab_stop(experiment: str) -> None:
    """End EXPERIMENT: its users go back to stable."""
    _say(_run(submit(get_settings(), {"action": "ab_stop", "experiment": experiment})))


@rollout.command("shadow")
@click.argument("name")
@click.argument("version")
def rollout_shadow(name: str, version: str) -> None:
    """Score every request of NAME with VERSION too, off the answer's path; log its lists."""
    _say(_run(submit(get_settings(), {"action": "shadow", "model_name": name, "model_version": version})))


@rollout.command("shadow-stop")
@click.argument("name")
def rollout_shadow_stop(name: str) -> None:
    """Stop NAME's shadow version."""
    _say(_run(submit(get_settings(), {"action": "shadow_stop", "model_name": name})))


@rollout.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--force", "force", default="", help="Skip the quality gate, giving the reason.")
def rollout_promote(name: str, version: str, force: str) -> None:
    """Make VERSION stable (the registry's production, behind the quality gate) on every worker."""
    _say(_run(submit(get_settings(), {"action": "promote", "model_name": name, "model_version": version,
                                      "force": force})))


@rollout.command("rollback")
@click.argument("name")
@click.option("--reason", default="manual rollback", show_default=True)
def rollout_rollback(name: str, reason: str) -> None:
    """Roll back NAME's canary; without one, return production to the version before it."""
    _say(_run(submit(get_settings(), {"action": "rollback", "model_name": name, "reason": reason})))


async def status_of(settings: Settings, model_name: str) -> dict[str, Any]:
    from tables import arm_stats

    state = await current_state(settings)
    stable = await stable_version(state, open_registry(settings), model_name)
    records = (await read_to_end(settings, arm_stats.changelog_topic.get_topic_name(), READ_TIMEOUT_S)).records
    latest = {record.key: record.value for record in records}
    rows = merge(orjson.loads(value) for value in latest.values() if value is not None)
    return report.status(model_name, state, stable, rows, settings.sequential_alpha)


def _pct(value: float) -> str:
    return f"{value:.1%}"


def print_status(body: dict[str, Any]) -> None:
    stable = body["stable"]
    click.echo(f"{body['model_name']}: stable {stable['model_version'] if stable else '(none)'}")
    if body["canary"]:
        c = body["canary"]
        click.echo(f"canary {c['model_version']} for {c['percent']}% of users"
                   + (f", re-ranker {c['reranker']}" if c["reranker"] else ""))
    if body["experiment"]:
        e = body["experiment"]
        click.echo(f"experiment {e['experiment']}: " + ", ".join(
            f"{a['name']}={a['model_name']}:{a['model_version']} {a['weight']}%" + (f"@{a['reranker']}" if a["reranker"] else "")
            for a in e["arms"]))
    rows = body["arms"] or ([stable["figures"]] if stable else [])
    if rows:
        click.echo(f"{'arm':<10} {'requests':>9} {'errors':>7} {'conversions':>11} {'rate':>7} {'95% interval':>17} "
                   f"{'p95 ms':>7}  against control")
        for arm in rows:
            low, high = arm["conversion_interval"]
            versus = arm.get("comparison")
            against = (f"{versus['difference']:+.4f} [{versus['interval'][0]:+.4f}, {versus['interval'][1]:+.4f}] "
                       f"{versus['decision']}") if versus else ""
            p95 = arm["p95_latency_ms"]
            click.echo(f"{arm['arm']:<10} {arm['requests']:>9} {_pct(arm['error_rate']):>7} {arm['conversions']:>11} "
                       f"{_pct(arm['conversion_rate']):>7} {f'[{_pct(low)}, {_pct(high)}]':>17} "
                       f"{(f'{p95:g}' if p95 is not None else '-'):>7}  {against}")
    if body["decision"]:
        click.echo(f"decision: {body['decision']}" + (f" ({body['winner']})" if body["winner"] else ""))
    if body["shadow"]:
        s = body["shadow"]
        click.echo(f"shadow {s['model_version']}: {s['figures']['requests']} scored, mean overlap "
                   f"{s['figures'].get('mean_overlap')}, p95 {s['figures']['p95_latency_ms']} ms")
    if body["last_rollback"]:
        r = body["last_rollback"]
        click.echo(f"last rollback: {r['arm']} {r['model_version']} by {r['actor']}: {r['reason']}")


@rollout.command("status")
@click.option("--model", "model_name", default=None, help="Default: MOVIE_RECS_SERVE_MODEL.")
@click.option("--json", "as_json", is_flag=True, default=False, help="The body /rollout/status answers.")
def rollout_status(model_name: str | None, as_json: bool) -> None:
    """Stable, canary, experiment, shadow: every arm's figures and the decision."""
    settings = get_settings()
    body = _run(status_of(settings, model_name or settings.serve_model))
    if as_json:
        click.echo(json.dumps(body, indent=2))
    else:
        print_status(body)


@cli.command("retrain")
@click.option("--json", "as_json", is_flag=True, default=False, help="End with a machine-readable result line.")
def retrain_command(as_json: bool) -> None:
    """Train from recent snapshots, gate against production, start a passing version as a canary."""
    import logging

    from app.retrain import RetrainResult, result_line, retrain

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()

    async def run() -> RetrainResult:
        state = await current_state(settings)
        return await retrain(settings, state, lambda record: publish(settings, record))

    try:
        result = _run(run())
    except click.ClickException as exc:
        result = RetrainResult("failed", settings.serve_model, reason=exc.message)
    except Exception as exc:  # anything else is a failed run, reported like one
        result = RetrainResult("failed", settings.serve_model, reason=repr(exc))
    click.echo(result_line(result) if as_json else
               f"{result.outcome}: {result.model_name} {result.model_version} {result.reason}".strip())
    if result.outcome == "failed":
        sys.exit(1)
