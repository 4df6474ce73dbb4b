"""Peeking at an A/B test: the plain z-test against the always-valid mixture SPRT the system uses.

Usage: python -m bench.sequential [--streams 2000] [--horizon 20000] [--every 100]
                                  [--rates 0.05,0.1,0.3] [--lift 0.2] [--alpha 0.05] [--smoke]

For each base conversion rate, ``--streams`` simulated streams of ``--horizon`` requests are
split 50/50 between two arms and looked at after every ``--every`` requests, as the system
looks at its figures continuously:

- A/A streams (both arms convert at the base rate): the share of streams in which a test
  ever declares a difference is its real false-positive rate under peeking. The plain
  two-proportion z-test at 5% is the system this project replaces; ours is
  ``app.rollout.sequential.decide`` at ``--alpha`` (goal: at most 5%).
- A/B streams (arm b converts ``--lift`` better, relative): the share in which ours ships b
  within the horizon, and how many requests (both arms) it needed: median and 90th percentile
  of the first check at which it decided. For scale: the fixed-horizon z-test looked at once
  needs ``fixed_n`` requests for 80% power at the same alpha.

Each interval's requests are drawn as binomials, so the run is exact for the model and fast.
Prints a table, then ONE JSON line with every figure (the last line of the output).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from scipy.stats import norm

from app.rollout.sequential import MIN_REQUESTS, MIXTURE_SD, decide, z_test


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000, help="simulated streams per case")
    parser.add_argument("--horizon", type=int, default=20_000, help="requests per stream (both arms)")
    parser.add_argument("--every", type=int, default=100, help="requests between two looks")
    parser.add_argument("--rates", default="0.05,0.1,0.3", help="base conversion rates, comma-separated")
    parser.add_argument("--lift", type=float, default=0.2, help="arm b's true relative lift in the A/B streams")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a tiny run for CI (200 streams of 3000)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.streams, args.horizon, args.rates = 200, 3_000, "0.1"
    return args


def streams(rng: np.random.Generator, count: int, looks: int, every: int, rate_a: float, rate_b: float):
    """Cumulative (n_a, c_a, n_b, c_b) at each look, shape (count, looks)."""
    n_b = rng.binomial(every, 0.5, (count, looks))
    n_a = every - n_b
    c_a, c_b = rng.binomial(n_a, rate_a), rng.binomial(n_b, rate_b)
    return n_a.cumsum(1), c_a.cumsum(1), n_b.cumsum(1), c_b.cumsum(1)


def fixed_horizon_n(rate: float, lift: float, alpha: float, power: float = 0.8) -> int:
    """Requests (both arms) a single z-test at the end needs for ``power`` against ``lift``."""
    p_b = rate * (1 + lift)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    per_arm = z**2 * (rate * (1 - rate) + p_b * (1 - p_b)) / (p_b - rate) ** 2
    return int(np.ceil(2 * per_arm))


def run_case(args: argparse.Namespace, rate: float, rng: np.random.Generator) -> dict:
    looks = args.horizon // args.every
    at = np.arange(1, looks + 1) * args.every
    aa = streams(rng, args.streams, looks, args.every, rate, rate)
    ours_aa = decide(*aa, args.alpha)
    plain_aa = z_test(*aa, args.alpha)
    ab = streams(rng, args.streams, looks, args.every, rate, rate * (1 + args.lift))
    ours_ab = decide(*ab, args.alpha)
    shipped = (ours_ab == 1).any(1)
    first = at[np.argmax(ours_ab == 1, axis=1)][shipped]
    plain_ab = z_test(*ab, args.alpha)
    return {
        "rate": rate,
        "aa_false_positive_z_peeking": round(float((plain_aa != 0).any(1).mean()), 4),
        "aa_false_positive_z_once": round(float((plain_aa[:, -1] != 0).mean()), 4),
        "aa_false_positive_ours": round(float((ours_aa != 0).any(1).mean()), 4),
        "ab_power_ours": round(float(shipped.mean()), 4),
        "ab_wrong_way_ours": round(float((ours_ab == -1).any(1).mean()), 4),
        "ab_requests_median_ours": int(np.median(first)) if first.size else None,
        "ab_requests_p90_ours": int(np.percentile(first, 90)) if first.size else None,
        "ab_power_z_once": round(float((plain_ab[:, -1] == 1).mean()), 4),
        "fixed_n_80_power": fixed_horizon_n(rate, args.lift, args.alpha),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    cases = [run_case(args, float(rate), rng) for rate in args.rates.split(",")]
    report = {"streams": args.streams, "horizon": args.horizon, "every": args.every, "lift": args.lift,
              "alpha": args.alpha, "mixture_sd": MIXTURE_SD, "min_requests": MIN_REQUESTS, "cases": cases,
              "goal_fpr_at_most": 0.05,
              "goal_met": all(case["aa_false_positive_ours"] <= 0.05 for case in cases),
              "seconds": round(time.perf_counter() - started, 2)}
    print(f"{args.streams} streams of {args.horizon} requests, looked at every {args.every}; "
          f"A/B lift {args.lift:.0%}, alpha {args.alpha}")
    print(f"{'rate':>6} {'A/A FP z peeking':>17} {'z once':>7} {'ours':>6} {'power ours':>11} "
          f"{'median n':>9} {'p90 n':>7} {'fixed n 80%':>12}")
    for case in cases:
        print(f"{case['rate']:>6} {case['aa_false_positive_z_peeking']:>17.1%} {case['aa_false_positive_z_once']:>7.1%} "
              f"{case['aa_false_positive_ours']:>6.1%} {case['ab_power_ours']:>11.1%} "
              f"{case['ab_requests_median_ours'] or '-':>9} {case['ab_requests_p90_ours'] or '-':>7} "
              f"{case['fixed_n_80_power']:>12}")
    print(json.dumps(report, separators=(",", ":")))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
