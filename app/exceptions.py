"""Errors of the event layer; each carries a reason a person can read in a dead letter."""


class BadEvent(ValueError):
    """A message that cannot become a valid event; ``str(exc)`` is the dead-letter reason."""

    category = "invalid"


class DecodeError(BadEvent):
    """The bytes are not a Confluent-framed Avro record of the expected schema."""

    category = "undecodable"


class InvalidEvent(BadEvent):
    """The record decodes but breaks a rule of meaning (ids, ranges, time)."""

    category = "invalid"


class OversizeEvent(BadEvent):
    """The message is larger than the configured limit and was not decoded."""

    category = "oversize"


class RateLimited(BadEvent):
    """A valid event over its sender's rate limit (ratings per user per hour)."""

    category = "rate_limited"
