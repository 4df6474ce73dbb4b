"""Rollouts as plain logic: the state folded from ``model-events``, arms, figures, decisions.

Nothing here touches Kafka or Faust, so every rule is tested on plain data (``commands``
asks a registry it is given whether a model version exists):

- ``state``: the rollout state (stable, canary, shadow, experiments) folded from events;
- ``arms``: which arm a user gets, by a stable hash of (user id, experiment id);
- ``stats``: per-arm figures (requests, errors, conversions, latency) and their merge;
- ``conversions``: matching a watch to the pending served lists of its user;
- ``sequential``: the always-valid test behind every ship / keep / inconclusive decision;
- ``guard``: when the canary guard rolls a canary back, and why;
- ``commands``: a rollout request checked against the state and the registry, turned into an event;
- ``report``: what /rollout/status shows of a model's traffic.
"""
