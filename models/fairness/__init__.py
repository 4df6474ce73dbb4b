"""Fairness of exposure: whole-catalog metrics over exposure counts, tiers from training popularity."""
from models.fairness.exposure import Catalog, FairnessSummary, summarise

__all__ = ["Catalog", "FairnessSummary", "summarise"]
