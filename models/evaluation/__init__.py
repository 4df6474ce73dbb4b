"""Offline evaluation: three protocols, one scoring of top-K lists, 95% intervals and paired differences.

- :mod:`~models.evaluation.leave_last`: per user, the last interaction is the test (DESIGN.md section 6);
- :mod:`~models.evaluation.temporal`: fit before a time cut, every user's later interactions are the test;
- :mod:`~models.evaluation.cold_start`: users first seen after the cut, their first n events live.

The time-based protocols produce :class:`~models.evaluation.cases.Case` requests; whatever is
evaluated (a strategy of the served policy or a baseline) answers each with a list, and
:mod:`~models.evaluation.stats` scores the lists the same way for all of them.
"""
from models.evaluation.leave_last import (
    MIN_INTERACTIONS, PROTOCOLS, SAMPLING_SEED, Split, Target, compare, evaluate, held_out_ranks,
    leave_last_split, per_user_gains, score_matrix,
)
from models.evaluation.cases import Case, TimeCut, quantile_ts, time_cut
from models.evaluation.cold_start import HISTORY_LENGTHS, cold_start_cases
from models.evaluation.stats import list_metrics, mean_ci, summarise
from models.evaluation.temporal import session_cases, temporal_cases

__all__ = [
    "HISTORY_LENGTHS", "MIN_INTERACTIONS", "PROTOCOLS", "SAMPLING_SEED", "Case", "Split", "Target", "TimeCut",
    "cold_start_cases", "compare", "evaluate", "held_out_ranks", "leave_last_split", "list_metrics", "mean_ci",
    "per_user_gains", "quantile_ts", "score_matrix", "session_cases", "summarise", "temporal_cases", "time_cut",
]
