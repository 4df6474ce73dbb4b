"""Each re-ranking step by hand, their composition, and the spec parser's errors."""
import numpy as np
import pytest

from models.fairness import Catalog
from models.rerank import Candidates, Context, GenreProvider, SpecError, ThompsonSampler, parse
from models.rerank.steps import Explore, GenreMMR, PopularityPenalty, TailQuota

# Training popularity: movies 1..10; the head (ceil(0.2 x 10) = 2) is movies 1 and 2.
POP = {1: 1000, 2: 400, 3: 50, 4: 20, 5: 10, 6: 5, 7: 3, 8: 2, 9: 1, 10: 0}
GENRES = {1: "Action", 2: "Action|Comedy", 3: "Action", 4: "Drama", 5: "Comedy|Drama", 6: "Horror"}


def context(sampler=None, seed=0) -> Context:
    return Context(Catalog.from_popularity(POP), GenreProvider(GENRES), sampler or ThompsonSampler(),
                   np.random.default_rng(seed))


def test_popularity_penalty_by_hand():
    cands = Candidates.of([1, 3, 9], [1.0, 0.5, 0.0])
    pop = np.log1p([1000, 50, 1]) / np.log1p(1000)  # 1, 0.5692, 0.1003
    out = PopularityPenalty(beta=1.0)(cands, 3, context())
    # 1 - 1 = 0; 0.5 - 0.5692 = -0.069; 0 - 0.1003 = -0.100: movie 1 stays first
    assert out.movie_ids.tolist() == [1, 3, 9]
    assert out.scores.tolist() == pytest.approx([1 - pop[0], 0.5 - pop[1], -pop[2]])
    out = PopularityPenalty(beta=2.0)(cands, 3, context())
    # 1 - 2 = -1; 0.5 - 1.138 = -0.638; 0 - 0.2006 = -0.2006
    assert out.movie_ids.tolist() == [9, 3, 1]
    assert PopularityPenalty(beta=0.0)(cands, 3, context()).movie_ids.tolist() == [1, 3, 9]


def test_mmr_by_hand():
    # scores normalise to 1, 0.9, 0.8, 0; lambda 0.5 -> relevance 0.5, 0.45, 0.4, 0
    cands = Candidates.of([1, 3, 2, 4], [1.0, 0.9, 0.8, 0.0])
    out = GenreMMR(lam=0.5)(cands, 3, context())
    # pick 1 (0.5). sims to {Action}: 3 -> 1, 2 -> 1/2, 4 -> 0: 0.45 - 0.5 = -0.05,
    # 0.4 - 0.25 = 0.15, 0 - 0 = 0: pick 2. Then 3: max(1, 1/2) -> -0.05; 4: max(0, 0) -> 0: pick 4.
    assert out.movie_ids.tolist() == [1, 2, 4, 3]
    assert GenreMMR(lam=0.0)(cands, 3, context()).movie_ids.tolist() == [1, 3, 2, 4]


def test_mmr_treats_a_movie_without_genres_as_unlike_every_other():
    cands = Candidates.of([1, 3, 10], [1.0, 0.99, 0.98])
    assert GenreMMR(lam=0.5)(cands, 2, context()).movie_ids.tolist() == [1, 10, 3]


def test_tail_quota_by_hand():
    # head 1, 2; tail 3..10. Top 4 = [1, 2, 3, 4] has 2 tail; q=3 promotes 5, drops 2.
    cands = Candidates.of([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
    out = TailQuota(q=3)(cands, 4, context())
    assert out.movie_ids.tolist() == [1, 3, 4, 5, 2, 6]
    assert out.scores.tolist() == [6, 4, 3, 2, 5, 1]
    assert TailQuota(q=2)(cands, 4, context()).movie_ids.tolist() == [1, 2, 3, 4, 5, 6]
    # Not enough tail candidates: as many as there are.
    short = Candidates.of([1, 2, 3], [3, 2, 1])
    assert TailQuota(q=3)(short, 2, context()).movie_ids.tolist() == [1, 3, 2]


def test_explore_gives_the_last_slots_to_the_tail_by_posterior_draws():
    sampler = ThompsonSampler()
    for _ in range(500):  # movie 7 converts 40%, movie 8 never
        sampler.expose([7, 8])
    for _ in range(200):
        sampler.convert(7)
    cands = Candidates.of([1, 2, 8, 7], [5, 4, 3, 2])
    out = Explore(slots=1)(cands, 3, context(sampler))
    # 8 is placed higher, but Beta(201, 301) draws near 0.4 and Beta(1, 501) near 0.002
    assert out.movie_ids.tolist() == [1, 2, 7, 8]


def test_explore_gives_unseen_movies_a_chance():
    cands = Candidates.of([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
    picked = {int(Explore(slots=1)(cands, 3, context(seed=s)).movie_ids[2]) for s in range(40)}
    assert picked == {3, 4, 5}  # every tail candidate outside the kept two, none of the head


def test_thompson_sampler_finds_the_best_movie_on_simulated_conversions():
    rng = np.random.default_rng(1)
    rates = {11: 0.02, 12: 0.05, 13: 0.15, 14: 0.01}
    sampler = ThompsonSampler()
    picks = []
    for _ in range(3000):
        movies = list(rates)
        best = movies[int(np.argmax(sampler.draw(movies, rng)))]
        sampler.expose([best])
        if rng.random() < rates[best]:
            sampler.convert(best)
        picks.append(best)
    assert picks[-1000:].count(13) > 800  # it learned which movie converts
    assert all(sampler.trials[m] > 0 for m in rates)  # and tried every one


def test_chain_and_depth_from_a_spec():
    chain = parse("popularity_penalty:beta=2|tail_quota:q=3,depth=10")
    assert chain.depth == 10
    cands = Candidates.of([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
    out = chain(cands, 3, context())
    # The penalty alone already puts three tail movies first; the quota has nothing to do.
    assert context().is_tail(out.movie_ids[:3]).all()
    assert parse(None) is None and parse("none") is None and parse("") is None


@pytest.mark.parametrize("spec, message", [
    ("popular:beta=1", "unknown re-ranker 'popular'"),
    ("mmr:lambda=2", "outside 0.0..1.0"),
    ("mmr:lambda=x", "not a number"),
    ("mmr", "missing lambda"),
    ("tail_quota:q=-1", "not a whole number"),
    ("tail_quota:k=3", "unknown parameter 'k'"),
    ("explore:slots", "not key=value"),
    ("mmr:lambda=0.3|explore:slots=2,depth=0", "outside 1..200"),
])
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(SpecError, match=message):
        parse(spec)
