"""Training of NeuMF: BCE on each positive and uniformly sampled negatives, Adam, fixed seeds."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from scipy.sparse import csr_matrix
from tqdm.auto import tqdm

from models.interactions import recency_weights
from models.ncf._config import NCFConfig
from models.ncf._model import NeuMF


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, restoring the previous count afterwards."""
    previous = torch.get_num_threads()
    if previous != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if previous != n:
            torch.set_num_threads(previous)


def positive_weights(ranks: np.ndarray, config: NCFConfig) -> np.ndarray:
    """Loss weight of positives from their recency ranks (1 everywhere without recency)."""
    if config.recency_half_life is None:
        return np.ones(len(ranks), dtype=np.float32)
    return (1.0 + config.recency_boost * recency_weights(ranks, config.recency_half_life)).astype(np.float32)


def sample_negatives(
    users: np.ndarray, per_positive: int, positive_keys: np.ndarray, n_items: int, rng: np.random.Generator
) -> np.ndarray:
    """``per_positive`` items per entry of ``users``, uniform over items the user has not got.

    ``positive_keys`` are the sorted ``user * n_items + item`` keys of the training pairs.

    Collisions with the user's training items are redrawn (a few rounds, vectorised); the rare
    survivors of the last round stay, which only adds a little label noise.
    """
    owners = np.repeat(users, per_positive)
    items = rng.integers(0, n_items, size=owners.size)
    for _ in range(5):
        clash = _contains(positive_keys, owners.astype(np.int64) * n_items + items)
        if not clash.any():
            break
        items[clash] = rng.integers(0, n_items, size=int(clash.sum()))
    return items


def pair_keys(matrix: csr_matrix) -> np.ndarray:
    """Sorted ``user * n_items + item`` keys of a matrix's stored entries (for membership tests)."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return np.sort(rows * matrix.shape[1] + matrix.indices.astype(np.int64))


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.minimum(pos, sorted_keys.size - 1)
    return sorted_keys[pos] == keys


def train_neumf(
    matrix: csr_matrix,
    config: NCFConfig,
    *,
    progress: bool = False,
    on_epoch: Optional[Callable[[int, NeuMF], None]] = None,
) -> NeuMF:
    """Fit a NeuMF network to a recency-rank matrix (users x items); deterministic for a seed.

    ``on_epoch(epoch, network)`` runs after every epoch (1-based), e.g. to follow validation.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n_users, n_items = matrix.shape
    network = NeuMF(n_users, n_items, config)
    optimiser = torch.optim.Adam(network.parameters(), lr=config.lr)
    pos_users = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(matrix.indptr))
    pos_items = matrix.indices.astype(np.int64)
    pos_weights = positive_weights(matrix.data, config)
    n_pos = pos_users.size
    positive_keys = pair_keys(matrix)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    with torch_threads(config.num_threads):
        for epoch in tqdm(range(1, config.epochs + 1), desc="ncf epochs", disable=not progress, leave=False):
            neg_items = sample_negatives(pos_users, config.negatives, positive_keys, n_items, rng)
            users = torch.from_numpy(np.concatenate([pos_users, np.repeat(pos_users, config.negatives)]))
            items = torch.from_numpy(np.concatenate([pos_items, neg_items]))
            labels = torch.cat([torch.ones(n_pos), torch.zeros(neg_items.size)])
            weights = torch.cat([torch.from_numpy(pos_weights), torch.ones(neg_items.size)])
            order = torch.from_numpy(rng.permutation(users.numel()))
            network.train()
            for start in range(0, order.numel(), config.batch_size):
                batch = order[start : start + config.batch_size]
                u, i = users[batch], items[batch]
                logits = network(u, i)
                loss = (loss_fn(logits, labels[batch]) * weights[batch]).mean()
                if config.weight_decay:
                    loss = loss + config.weight_decay * _embedding_l2(network, u, i)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            network.eval()
            if on_epoch is not None:
                on_epoch(epoch, network)
    network.requires_grad_(False)  # trained for good: fold-in differentiates the user side only
    return network


def _embedding_l2(network: NeuMF, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    terms = (network.user_gmf(users), network.user_mlp(users), network.item_gmf(items), network.item_mlp(items))
    return sum(t.pow(2).sum() for t in terms) / users.numel()


def fold_in_user(
    network: NeuMF,
    items: np.ndarray,
    ranks: np.ndarray,
    config: NCFConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings (GMF, MLP) of a new user fitted to a history, the network frozen.

    The loss is training's loss in expectation: weighted BCE on the history, plus every other
    item as a negative weighted so that negatives weigh what ``negatives`` uniform samples per
    positive weigh during training (no sampling, so the answer is deterministic). It is minimised
    over the two user vectors by L-BFGS from the mean trained user, with a small pull towards
    it. The network's parameters must not require gradients (as :func:`train_neumf` leaves them).
    """
    n_items = network.item_gmf.num_embeddings
    is_positive = np.zeros(n_items, dtype=bool)
    is_positive[items] = True
    labels = torch.from_numpy(is_positive.astype(np.float32))
    weights = np.full(n_items, config.negatives * items.size / max(n_items - items.size, 1), dtype=np.float32)
    weights[items] = positive_weights(ranks, config)
    weights = torch.from_numpy(weights)
    all_items = torch.arange(n_items)
    with torch_threads(config.num_threads):
        mean_gmf = network.user_gmf.weight.detach().mean(0)
        mean_mlp = network.user_mlp.weight.detach().mean(0)
        user_gmf = mean_gmf.clone().requires_grad_(True)
        user_mlp = mean_mlp.clone().requires_grad_(True)
        optimiser = torch.optim.LBFGS([user_gmf, user_mlp], lr=1.0, max_iter=config.fold_in_steps,
                                      line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimiser.zero_grad(set_to_none=True)
            logits = network.forward_vectors(user_gmf, user_mlp, all_items)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=weights, reduction="sum")
            pull = (user_gmf - mean_gmf).pow(2).sum() + (user_mlp - mean_mlp).pow(2).sum()
            loss = bce / items.size + config.fold_in_l2 * pull
            loss.backward()
            return loss

        optimiser.step(closure)
    return user_gmf.detach(), user_mlp.detach()
