"""The fairness report: figures of served lists over a period, as JSON, a Markdown summary and PNG plots.

Pure over decoded ``RecoResponse`` dicts and a :class:`Catalog` (the tiers of the model that
served), so the CLI only fetches responses and writes files. Every number in the summary is
the JSON's, printed at 4 decimals (the test checks they agree).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from models.fairness.exposure import TIERS, Catalog, lorenz, summarise

FIGURES = {"lorenz": "fairness_lorenz.png", "tiers": "fairness_tiers.png", "starvation": "fairness_starvation.png"}
LORENZ_POINTS = 201


def served(responses: Iterable[Mapping[str, Any]], since_ms: int | None, until_ms: int | None,
           arm: str | None) -> list[Mapping[str, Any]]:
    """Responses that showed a list, in ``[since, until)`` and of ``arm`` (every arm when None), by time."""
    kept = [r for r in responses
            if r.get("status") == 200 and r.get("movie_ids")
            and (since_ms is None or r["ts"] >= since_ms) and (until_ms is None or r["ts"] < until_ms)
            and (arm is None or r.get("arm") == arm)]
    return sorted(kept, key=lambda r: r["ts"])


def build_report(responses: list[Mapping[str, Any]], catalog: Catalog, bucket_ms: int,
                 context: Mapping[str, Any]) -> dict[str, Any]:
    """Overall and per-arm figures, tier shares, starvation per time bucket and the Lorenz curve.

    ``context`` says what was asked (``arm``, ``since``, ``until``, ``model`` whose tiers are used).
    """
    counts = catalog.counts(r["movie_ids"] for r in responses)
    overall = summarise(counts, catalog, len(responses))
    arms = sorted({str(r.get("arm", "")) for r in responses})
    per_arm = {arm: summarise(catalog.counts(r["movie_ids"] for r in responses if r.get("arm") == arm), catalog,
                              sum(1 for r in responses if r.get("arm") == arm)).as_dict() for arm in arms}
    over_time = []
    cumulative = np.zeros(catalog.size, dtype=np.int64)
    if responses:
        first = responses[0]["ts"] - responses[0]["ts"] % bucket_ms
        buckets: dict[int, list[Mapping[str, Any]]] = {}
        for r in responses:
            buckets.setdefault(first + (r["ts"] - first) // bucket_ms * bucket_ms, []).append(r)
        for start in sorted(buckets):
            in_bucket = catalog.counts(r["movie_ids"] for r in buckets[start])
            cumulative += in_bucket
            over_time.append({
                "bucket_start_ms": int(start), "n_responses": len(buckets[start]),
                "starvation": summarise(in_bucket, catalog, len(buckets[start])).starvation,
                "cumulative_starvation": summarise(cumulative, catalog, 0).starvation})
    x, y = lorenz(counts)
    pick = np.unique(np.linspace(0, x.size - 1, min(LORENZ_POINTS, x.size)).round().astype(int))
    return {
        "context": dict(context), "n_responses": len(responses), "catalog_size": catalog.size,
        "period": {"first_ms": responses[0]["ts"] if responses else None,
                   "last_ms": responses[-1]["ts"] if responses else None},
        "summary": overall.as_dict(), "arms": per_arm,
        "tiers": {t: {"training_share": overall.training_share[t], "exposure_share": overall.exposure_share[t],
                      "amplification": overall.amplification[t]} for t in TIERS},
        "starvation_over_time": over_time,
        "lorenz": {"movie_share": x[pick].tolist(), "exposure_share": y[pick].tolist()},
    }


def summary_markdown(report: dict[str, Any]) -> str:
    """The report's Markdown summary; numbers at 4 decimals, straight from the JSON."""
    s = report["summary"]
    lines = [f"# Fairness report ({report['context']['arm'] or 'every arm'})", "",
             f"{report['n_responses']} served lists, catalog of {report['catalog_size']} movies, "
             f"tiers from {report['context']['model']}.", "",
             "| figure | value |", "|---|---|",
             f"| gini | {s['gini']:.4f} |", f"| coverage | {s['coverage']:.4f} |",
             f"| starvation | {s['starvation']:.4f} |", f"| tail_share | {s['tail_share']:.4f} |",
             *(f"| amplification_{t} | {s['amplification'][t]:.4f} |" for t in TIERS), "",
             "| arm | responses | gini | coverage | starvation | tail_share |", "|---|---|---|---|---|---|",
             *(f"| {arm or '(none)'} | {a['n_responses']} | {a['gini']:.4f} | {a['coverage']:.4f} "
               f"| {a['starvation']:.4f} | {a['tail_share']:.4f} |" for arm, a in report["arms"].items()), "",
             *(f"![{name}]({file})" for name, file in FIGURES.items())]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], out: Path) -> None:
    """The three PNGs: Lorenz curve, exposure against training share per tier, starvation over time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(report["lorenz"]["movie_share"], report["lorenz"]["exposure_share"], label="exposure")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="equal exposure")
    ax.set(xlabel="share of catalog (least exposed first)", ylabel="share of exposure",
           title=f"Lorenz curve, Gini {report['summary']['gini']:.3f}")
    ax.legend()
    fig.tight_layout(), fig.savefig(out / FIGURES["lorenz"], dpi=110), plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    at = np.arange(len(TIERS))
    ax.bar(at - 0.2, [report["tiers"][t]["training_share"] for t in TIERS], 0.4, label="training interactions")
    ax.bar(at + 0.2, [report["tiers"][t]["exposure_share"] for t in TIERS], 0.4, label="exposure")
    ax.set_xticks(at, [f"{t} (x{report['tiers'][t]['amplification']:.2f})" for t in TIERS])
    ax.set(ylabel="share", title="Exposure against training share per tier")
    ax.legend()
    fig.tight_layout(), fig.savefig(out / FIGURES["tiers"], dpi=110), plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    points = report["starvation_over_time"]
    hours = [(p["bucket_start_ms"] - points[0]["bucket_start_ms"]) / 3.6e6 for p in points] if points else []
    ax.plot(hours, [p["starvation"] for p in points], marker="o", ms=3, label="in the bucket")
    ax.plot(hours, [p["cumulative_starvation"] for p in points], marker="o", ms=3, label="since the start")
    ax.set(xlabel="hours since the first response", ylabel="share of catalog never shown", ylim=(0, 1.02),
           title="Starvation over time")
    ax.legend()
    fig.tight_layout(), fig.savefig(out / FIGURES["starvation"], dpi=110), plt.close(fig)


def write_report(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """``fairness_report.json``, ``fairness_report.md`` and the PNGs in ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    plot(report, out)
    paths = {"json": out / "fairness_report.json", "markdown": out / "fairness_report.md",
             **{name: out / file for name, file in FIGURES.items()}}
    paths["json"].write_text(json.dumps(report, indent=1) + "\n")
    paths["markdown"].write_text(summary_markdown(report))
    return paths
