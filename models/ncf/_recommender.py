"""NCF as a :class:`models.base.Recommender`: the trained NeuMF network scores every item."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from scipy.sparse import csr_matrix

from models.base import Recommender
from models.exceptions import ArtifactError
from models.ncf._config import NCFConfig
from models.ncf._model import NeuMF
from models.ncf._training import fold_in_user, torch_threads, train_neumf

STATE_DICT_FILE = "state_dict.pt"
_USERS_PER_FORWARD = 64


class NCF(Recommender):
    """NeuMF trained with sampled negatives; a user's scores are the network's logits."""

    name = "ncf"
    Params = NCFConfig

    network: NeuMF | None = None
    on_epoch: Optional[Callable[[int, "NCF"], None]] = None
    """Called after each training epoch with the model (scoring works then): early stopping
    and learning curves use it."""

    def _fit(self, matrix: csr_matrix, *, progress: bool) -> None:
        callback = None
        if self.on_epoch is not None:
            def callback(epoch: int, network: NeuMF) -> None:
                self.network = network
                self.on_epoch(epoch, self)
        self.network = train_neumf(matrix, self.params, progress=progress, on_epoch=callback)

    def score_users(self, user_indexes: np.ndarray) -> np.ndarray:
        users = torch.as_tensor(np.asarray(user_indexes, dtype=np.int64))
        items = torch.arange(self.n_items)
        out = np.empty((users.numel(), self.n_items), dtype=np.float32)
        with torch_threads(self.params.num_threads), torch.inference_mode():
            for start in range(0, users.numel(), _USERS_PER_FORWARD):
                chunk = users[start : start + _USERS_PER_FORWARD]
                logits = self.network(chunk.repeat_interleave(items.numel()), items.repeat(chunk.numel()))
                out[start : start + chunk.numel()] = logits.view(chunk.numel(), -1).numpy()
        return out

    def score_history(self, item_indexes: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        user_gmf, user_mlp = fold_in_user(self.network, np.asarray(item_indexes, np.int64), ranks, self.params)
        with torch_threads(self.params.num_threads), torch.inference_mode():
            return self.network.forward_vectors(user_gmf, user_mlp, torch.arange(self.n_items)).numpy()

    def _save_extra(self, directory: Path) -> None:
        torch.save(self.network.state_dict(), directory / STATE_DICT_FILE)

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        path = directory / STATE_DICT_FILE
        if not path.exists():
            raise ArtifactError(f"no {STATE_DICT_FILE} in {directory}")
        network = NeuMF(self.n_users, self.n_items, self.params)
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        network.eval()
        network.requires_grad_(False)
        self.network = network
