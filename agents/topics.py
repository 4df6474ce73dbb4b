"""The Kafka topics of DESIGN §2, named through settings so a prefix can isolate a deployment.

Topics an agent reads are ``internal`` so Faust creates any that is missing, with the
configured partitions, before it subscribes; the rest are created by ``declare_topics``
when the worker starts, so no send ever waits on a topic that does not exist.
"""
from __future__ import annotations

from app import app
from app.settings import get_settings

settings = get_settings()
name = settings.topic
_user_keyed = {"partitions": settings.partitions}

watch = app.topic(name("watch"), **_user_keyed)
rate = app.topic(name("rate"), **_user_keyed)
reco_requests = app.topic(name("reco-requests"), **_user_keyed)
user_flags = app.topic(name("user-flags"), **_user_keyed)
movielog = app.topic(name("movielog"), internal=True)
dead_letters = app.topic(name("dead-letters"))
reco_responses = app.topic(name("reco-responses"))
# The rollout state is folded from every model event ever published: never delete them.
model_events = app.topic(name("model-events"), config={"retention.ms": "-1"})
# The catalog, keyed by movie id; compacted, so the topic is the catalog's latest state.
movies = app.topic(name("movies"), partitions=1, compacting=True, internal=True)

# Events that a CRC32 (librdkafka) producer put on a partition that does not own their user
# are moved to the owning partition of these, so no table row lands on a foreign partition.
watch_rerouted = app.topic(name("watch-rerouted"), **_user_keyed)
rate_rerouted = app.topic(name("rate-rerouted"), **_user_keyed)
# What the ingest agent reads: both client topics and their reroute twins, co-partitioned.
event_sources = app.topic(name("watch"), name("watch-rerouted"), name("rate"), name("rate-rerouted"),
                          internal=True, **_user_keyed)
reco_requests_rerouted = app.topic(name("reco-requests-rerouted"), **_user_keyed)
reco_request_sources = app.topic(name("reco-requests"), name("reco-requests-rerouted"), internal=True,
                                 **_user_keyed)
# New interactions re-keyed by movie, so the item table is partitioned by movie.
item_interactions = app.topic(name("item-interactions"), internal=True,
                              value_serializer="json", **_user_keyed)
# Per-batch exposure counts re-keyed by arm, so one worker holds an arm's whole-catalog counts.
exposure_deltas = app.topic(name("exposure-deltas"), internal=True, key_serializer="json",
                            value_serializer="json", **_user_keyed)
# Conversions the rollout work publishes (JSON, keyed by user id); exploration learns from them.
conversions = app.topic(name("conversions"), internal=True, **_user_keyed)

# Spam detection: partitions send their closed windows' count histograms to the one
# coordinator partition, which sends each window's threshold back to every partition; the
# detector reads thresholds and flags (for the quarantine) together, co-partitioned with the
# ratings, which the ingest agent counts.
spam_summaries = app.topic(name("spam-summaries"), partitions=1, internal=True)
spam_thresholds = app.topic(name("spam-thresholds"), **_user_keyed)
spam_sources = app.topic(name("spam-thresholds"), name("user-flags"), internal=True, **_user_keyed)

ALL_TOPICS = (event_sources, reco_request_sources, user_flags, movielog, dead_letters,
              reco_responses, model_events, item_interactions, exposure_deltas,
              conversions, spam_summaries, spam_sources, movies)


@app.task
async def declare_topics() -> None:
    """Create every topic of the app that does not exist yet."""
    for topic in ALL_TOPICS:
        await topic.maybe_declare()
