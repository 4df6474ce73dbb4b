"""Offline ranking and exposure metrics, one per module (definitions: DESIGN.md section 6)."""
from models.metrics.coverage import catalog_coverage
from models.metrics.gini import exposure_counts, gini
from models.metrics.hit_rate import hit_rate
from models.metrics.ndcg import ndcg
from models.metrics.tail_share import long_tail_mask, tail_share

__all__ = [
    "catalog_coverage",
    "exposure_counts",
    "gini",
    "hit_rate",
    "long_tail_mask",
    "ndcg",
    "tail_share",
]
