"""Errors raised by the recommender models, their artifacts and their training."""
from __future__ import annotations


class ModelError(Exception):
    """Base class of every error of the models package."""


class NotFittedError(ModelError):
    """A model was asked to score or save before it was fitted or loaded."""


class ArtifactError(ModelError):
    """A saved model directory is missing a file, or holds another model or format."""


class UnknownModelError(ModelError, KeyError):
    """No model is registered under the requested name."""
