"""Model names and their classes; torch is imported only when the NCF model is asked for."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from models.exceptions import UnknownModelError

if TYPE_CHECKING:
    from models.base import Recommender

MODEL_NAMES = ("popularity", "itemcf", "als", "ncf")
"""Every model the trainer knows, cheapest first."""

_CLASSES = {
    "popularity": "models.popularity:MostPopular",
    "itemcf": "models.itemcf:ItemCF",
    "als": "models.als:ALS",
    "ncf": "models.ncf:NCF",
}


def model_class(name: str) -> type[Recommender]:
    """The class of the model registered as ``name``."""
    try:
        module_name, class_name = _CLASSES[name].split(":")
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}") from None
    return getattr(importlib.import_module(module_name), class_name)


def create_model(name: str, params: dict[str, Any] | None = None) -> Recommender:
    """A new, unfitted model ``name`` with ``params`` over its defaults."""
    return model_class(name)(**(params or {}))
