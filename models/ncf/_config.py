"""Hyperparameters of NeuMF (NCF): network shape, training and fold-in, one docstring per field."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from models.base import Params


class NCFConfig(Params):
    """Configuration of the NeuMF model (He et al., 2017: GMF and MLP towers, one fused head)."""

    gmf_dim: int = Field(32, ge=1)
    """Size of the user and item embeddings of the GMF (element-wise product) tower."""
    mlp_dim: int = Field(32, ge=1)
    """Size of the user and item embeddings of the MLP tower (its input is twice this)."""
    mlp_layers: tuple[int, ...] = (64, 32, 16)
    """Widths of the MLP tower's hidden layers (ReLU after each)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout after each hidden MLP layer during training."""
    epochs: int = Field(6, ge=1)
    """Passes over the training interactions (each with freshly sampled negatives)."""
    batch_size: int = Field(2048, ge=1)
    """Examples (positives and negatives) per optimiser step."""
    lr: float = Field(5e-3, gt=0)
    """Adam learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """L2 penalty on the embeddings of the examples in each batch (scaled by batch size)."""
    negatives: int = Field(4, ge=1)
    """Negative items sampled uniformly (outside the user's training items) per positive."""
    recency_half_life: Optional[float] = Field(3.0, gt=0)
    """When set, a positive ``r`` steps back in the user's history gets loss weight
    ``1 + recency_boost * 0.5 ** ((r - 1) / half_life)``; None weighs every positive 1."""
    recency_boost: float = Field(30.0, ge=0)
    """Extra loss weight of the most recent positives (see ``recency_half_life``)."""
    fold_in_steps: int = Field(10, ge=1)
    """L-BFGS iterations that fit a new user's two embeddings to a history, the network frozen."""
    fold_in_l2: float = Field(1e-3, ge=0)
    """Pull of a folded-in user's embeddings towards the mean trained user."""
    num_threads: int = Field(1, ge=1)
    """Torch intra-op threads while training and scoring (1: steady on a busy 2-core machine)."""
    seed: int = 0
    """Seed of initialisation, negative sampling, shuffling and fold-in."""
