"""Answer one request: the model for known users, a fold-in / popularity blend for new ones, popularity otherwise."""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from models.base import Recommender, distinct_history
from models.bundle import ModelBundle, Recommendation
from models.interactions import IdMap
from models.serving.config import PolicyConfig
from models.serving.ranking import blend, ranked_top_k
from models.trending import TrendingCounts

UNTUNED = PolicyConfig()


def _indexes(catalog: IdMap, movie_ids: Iterable[int]) -> np.ndarray:
    found = catalog.index_of(np.fromiter(movie_ids, dtype=np.int64))
    return found[found >= 0]


def known_user_scores(model: Recommender, user: int, live: np.ndarray) -> np.ndarray:
    """A known user's scores; when the live history has movies newer than the model, they count.

    Without news the model's own user state answers. Otherwise the training history (oldest
    first) followed by the live one is folded in, so the movie just watched is the most recent
    one, as it would be after retraining.
    """
    trained = model.seen(user)
    if not live.size or np.isin(live, trained).all():
        return model.score_users(np.array([user], dtype=np.int64))[0]
    matrix = model.matrix
    ranks = matrix.data[matrix.indptr[user] : matrix.indptr[user + 1]]
    oldest_first = trained[np.argsort(-ranks, kind="stable")]
    return model.score_history(*distinct_history(np.concatenate([oldest_first, live])))


def recommend(
    bundle: ModelBundle,
    user_id: int,
    k: int = 10,
    *,
    history: Iterable[int] = (),
    exclude: Iterable[int] = (),
    trending: Optional[TrendingCounts] = None,
    now: Optional[int] = None,
    last_active: Optional[int] = None,
    config: PolicyConfig = UNTUNED,
) -> Recommendation:
    """Top ``k`` movies for ``user_id`` and the strategy that found them (``RecoResponse.strategy``).

    - ``model``: the model was trained with the user; movies in ``history`` it never saw for
      them are folded in with the rest (see :func:`known_user_scores`); blended with
      ``config.model_popularity`` by ``config.model_weight``, or by ``active_model_weight``
      when ``last_active`` (epoch ms of the user's latest event the caller knows) is recent.
    - ``fold-in``: a new user with a movie the model knows in ``history``; the fold-in score is
      blended with popularity by ``config``'s weight and source for the history's length.
    - ``popular-fallback``: nothing known about the user; ``config.fallback_popularity`` alone.

    Popularity is ``trending`` (the live counts) or ``training`` (the model's training counts).

    ``history`` is the user's live movie ids, oldest first (the order is all fold-in needs: it
    becomes recency ranks). ``exclude`` holds every other movie never to show: the request's,
    and the rest of the user's watched or rated set when ``history`` is truncated. Ties are
    broken, and the list back-filled, by trending and then the model's training popularity, so
    it has ``k`` movies whenever the catalog has that many allowed. ``trending`` None stands
    for the training popularity; ``now`` (epoch ms) defaults to trending's last event. Only the
    model's catalog is served: a movie newer than the model waits for the next training.
    """
    catalog = bundle.maps.items
    watched = _indexes(catalog, history)
    allowed = np.ones(len(catalog), dtype=bool)
    allowed[watched] = False
    allowed[_indexes(catalog, exclude)] = False
    model = bundle.model
    popularity = model.popularity
    trend = popularity if trending is None else trending.scores_of(catalog.raw, now)
    counts = {"trending": trend, "training": popularity}
    user = bundle.maps.users.index(int(user_id))
    if user is not None:
        allowed[model.seen(user)] = False
        scores, strategy = known_user_scores(model, user, watched), "model"
        moment = now if now is not None else (trending.last_ts if trending is not None else None)
        idle = None if last_active is None or moment is None else int(moment) - int(last_active)
        weight = config.model_weight_for(idle)
        if weight < 1.0:
            scores = blend(scores, counts[config.model_popularity], weight, allowed)
    elif watched.size:
        items, ranks = distinct_history(watched)
        weight, source = config.fold_in_weight(items.size)
        scores = blend(model.score_history(items, ranks), counts[source], weight, allowed)
        strategy = "fold-in"
    else:
        scores, strategy = counts[config.fallback_popularity], "popular-fallback"
    best = ranked_top_k((scores, trend, popularity), k, allowed)
    return Recommendation(
        movie_ids=[int(m) for m in catalog.raw[best]],
        scores=[float(s) for s in scores[best]],
        strategy=strategy,
    )
