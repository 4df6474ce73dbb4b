"""Interaction data for training and simulation: MovieLens files and a synthetic generator."""
