"""Closed-loop simulation: users who watch what they are shown, a model retrained on what they did."""
from models.simulation.closed_loop import DEFAULT_STRATEGIES, SimulationConfig, run_closed_loop

__all__ = ["DEFAULT_STRATEGIES", "SimulationConfig", "run_closed_loop"]
