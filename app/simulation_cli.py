"""``movie-recs simulate --closed-loop``: the offline feedback-loop simulation, its table and plots."""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

DEFAULT_SIZE = {"n_users": 500, "n_movies": 800, "n_interactions": 30_000}
SMOKE_SIZE = {"n_users": 80, "n_movies": 150, "n_interactions": 2_400}
SMOKE_STRATEGIES = ("none", "explore:slots=2,depth=10")


def run_closed_loop_command(source: str, seed: int, days: int, retrain_every: int, strategies: str,
                            smoke: bool, out: Path) -> str:
    """Run the simulation on ``synthetic`` (its default size) or a MovieLens folder; write outputs; a summary."""
    from models.data.movielens import load_catalog, load_interactions
    from models.data.synthetic import generate
    from models.simulation import DEFAULT_STRATEGIES, SimulationConfig, run_closed_loop
    from models.simulation.figures import write_outputs

    started = time.perf_counter()
    if source == "synthetic":
        frame, catalog = generate(seed=seed, **(SMOKE_SIZE if smoke else DEFAULT_SIZE))
    else:
        frame, catalog = load_interactions(source), load_catalog(source)
    config = SimulationConfig(days=min(days, 4) if smoke else days, retrain_every=retrain_every, seed=seed)
    specs = tuple(strategies.split(";")) if strategies else SMOKE_STRATEGIES if smoke else DEFAULT_STRATEGIES
    results = run_closed_loop(frame, catalog, config, specs)
    command = "movie-recs " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "movie-recs simulate --closed-loop"
    paths = write_outputs(results, out, command, config)
    return (paths["table"].read_text() + f"\nwrote {', '.join(str(p) for p in paths.values())} "
            f"in {time.perf_counter() - started:.0f} s")
