"""The NeuMF network: a GMF tower and an MLP tower whose last layers feed one linear head."""
from __future__ import annotations

import torch
from torch import nn

from models.ncf._config import NCFConfig


class NeuMF(nn.Module):
    """Logit of "user u interacts with item i"; scoring and training use this same forward."""

    def __init__(self, n_users: int, n_items: int, config: NCFConfig) -> None:
        super().__init__()
        self.user_gmf = nn.Embedding(n_users, config.gmf_dim)
        self.item_gmf = nn.Embedding(n_items, config.gmf_dim)
        self.user_mlp = nn.Embedding(n_users, config.mlp_dim)
        self.item_mlp = nn.Embedding(n_items, config.mlp_dim)
        layers: list[nn.Module] = []
        width = 2 * config.mlp_dim
        for size in config.mlp_layers:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if config.dropout:
                layers.append(nn.Dropout(config.dropout))
            width = size
        self.mlp = nn.Sequential(*layers)
        self.head = nn.Linear(config.gmf_dim + width, 1)
        for embedding in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(embedding.weight, std=0.01)
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.kaiming_uniform_(self.head.weight, a=1, nonlinearity="sigmoid")
        nn.init.zeros_(self.head.bias)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of (user, item) index pairs."""
        return self.forward_vectors(self.user_gmf(users), self.user_mlp(users), items)

    def forward_vectors(self, user_gmf: torch.Tensor, user_mlp: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits for users given by their embedding vectors (broadcast against ``items``)."""
        item_mlp = self.item_mlp(items)
        gmf = user_gmf * self.item_gmf(items)
        mlp = self.mlp(torch.cat([user_mlp.expand_as(item_mlp), item_mlp], dim=-1))
        return self.head(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)
