"""Spam detection: per-window rate counts, the robust threshold, and the quarantine they feed."""
