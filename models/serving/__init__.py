"""The serving policy: which strategy answers a request, and its settings tuned on validation data.

Entry points: :func:`models.serving.policy.recommend` (one request) and
:func:`models.serving.tuning.tune_policy` (the :class:`PolicyConfig` the trainer stores).
"""
from models.serving.config import PolicyConfig
from models.serving.policy import recommend
from models.serving.tuning import PolicyTuning, tune_policy

__all__ = ["PolicyConfig", "PolicyTuning", "recommend", "tune_policy"]
