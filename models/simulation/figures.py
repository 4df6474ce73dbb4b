"""The closed-loop simulation's outputs: a Markdown table, a JSON of every day, and one PNG of the curves."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from models.simulation.closed_loop import final_table

PANELS = (("ndcg@10", "NDCG@10 against true taste"), ("coverage", "catalog coverage of the day's lists"),
          ("gini", "exposure Gini (whole catalog)"), ("tail_share", "long-tail share of exposure"),
          ("amplification_head", "head tier amplification"), ("training_gini", "Gini of the training data"))


def table(results: Mapping[str, list[dict]], command: str, last_days: int) -> str:
    rows = final_table(results, last_days)
    lines = [f"Closed-loop simulation, `{command}`: mean of the last {last_days} days (day 1 in brackets).", "",
             "| strategy | NDCG@10 | watches / list | coverage | Gini | tail share | head amplification | training Gini |",
             "|---|---|---|---|---|---|---|---|"]
    keys = ("ndcg@10", "watches_per_list", "coverage", "gini", "tail_share", "amplification_head", "training_gini")
    for row in rows:
        cells = " | ".join(f"{row['last_days'][k]:.3f} ({row['first_day'][k]:.3f})" for k in keys)
        lines.append(f"| `{row['strategy']}` | {cells} |")
    return "\n".join(lines) + "\n"


def write_outputs(results: Mapping[str, list[dict]], out: Path, command: str, config: Any,
                  last_days: int = 7) -> dict[str, Path]:
    """``closed_loop.md``, ``closed_loop.json`` and ``closed_loop.png`` in ``out``; their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    last_days = min(last_days, min(len(days) for days in results.values()))
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for ax, (key, title) in zip(axes.ravel(), PANELS):
        for spec, days in results.items():
            ax.plot([d["day"] for d in days], [d[key] for d in days], label=spec, lw=1.3)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("simulated day")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Closed loop: {command}", fontsize=9)
    fig.tight_layout()
    paths = {"table": out / "closed_loop.md", "json": out / "closed_loop.json", "figure": out / "closed_loop.png"}
    fig.savefig(paths["figure"], dpi=110)
    plt.close(fig)
    paths["table"].write_text(table(results, command, last_days))
    paths["json"].write_text(json.dumps({"command": command, "config": vars(config), "days": results}, indent=1) + "\n")
    return paths
