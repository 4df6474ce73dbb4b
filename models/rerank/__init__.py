"""Re-rankers: small pure functions over a scored candidate list, composable per arm by a spec.

Entry point: :func:`models.rerank.spec.parse` builds one from a string such as
``popularity_penalty:beta=0.5|tail_quota:q=3``; it is applied as ``reranker(candidates, k, context)``.
"""
from models.rerank.base import Candidates, Context, Reranker
from models.rerank.genres import GenreProvider
from models.rerank.spec import SpecError, parse
from models.rerank.thompson import ThompsonSampler

__all__ = ["Candidates", "Context", "GenreProvider", "Reranker", "SpecError", "ThompsonSampler", "parse"]
