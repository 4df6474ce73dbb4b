"""Recommender models: one interface, four algorithms, one split and one evaluation.

Entry points: :func:`models.training.train` (split, tune, fit, evaluate),
:class:`models.bundle.ModelBundle` (a fitted model answering in raw ids; save/load),
:func:`models.evaluation.evaluate`. NCF (torch) is imported only when asked for.
"""
from models.base import Recommender
from models.bundle import ModelBundle, Recommendation
from models.evaluation import PROTOCOLS, Split, evaluate, leave_last_split
from models.factory import MODEL_NAMES, create_model, model_class
from models.interactions import IdMap, IdMaps, interaction_matrix, recency_matrix
from models.training import TrainResult, train

__all__ = [
    "MODEL_NAMES",
    "PROTOCOLS",
    "IdMap",
    "IdMaps",
    "ModelBundle",
    "Recommendation",
    "Recommender",
    "Split",
    "TrainResult",
    "create_model",
    "evaluate",
    "interaction_matrix",
    "leave_last_split",
    "model_class",
    "recency_matrix",
    "train",
]
