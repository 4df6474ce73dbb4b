"""Neural collaborative filtering (NeuMF) in torch: config, network, trainer and recommender."""
from models.ncf._config import NCFConfig
from models.ncf._model import NeuMF
from models.ncf._recommender import NCF
from models.ncf._training import fold_in_user, train_neumf

__all__ = ["NCF", "NCFConfig", "NeuMF", "fold_in_user", "train_neumf"]
