"""Milliseconds of privacy accounting per trial: the σ solve and the final account.

Draws ``--cases`` configurations of the default Adult/logreg search space
(n = 26,049 public training rows, expected batch 64-2048 log-uniform, epochs
1-10, target ε 0.05-10 log-uniform; every other case has fairness statistics,
given half the target as one Gaussian release, as ``--stats-share 0.5`` does)
and times, per case with cold caches, what a trial pays:
``noise_for_epsilon`` then ``account``. Reports wall and CPU (process) time;
CPU time is the better estimate on a shared machine.

Usage::

    python bench/accounting.py                 # 24 cases, seed 0
    python bench/accounting.py --cases 100 --seed 1

Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

from trifront.privacy.accounting import (
    account,
    backends,
    calibration,
    gaussian_noise_for_epsilon,
    noise_for_epsilon,
    pld,
)

N_PUBLIC = 26049
DELTA = 1e-5


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    noise_for_epsilon(target_epsilon=1.0, delta=DELTA, sample_rate=0.01, steps=100)  # imports
    walls, cpus = [], []
    for i in range(args.cases):
        batch = int(math.exp(rng.uniform(math.log(64), math.log(2048))))
        epochs = rng.randint(1, 10)
        target = math.exp(rng.uniform(math.log(0.05), math.log(10.0)))
        stats = gaussian_noise_for_epsilon(target_epsilon=target / 2, delta=DELTA)
        extra = (stats,) if i % 2 else ()
        q = batch / N_PUBLIC
        steps = max(1, round(epochs / q))
        backends.cached_epsilon.cache_clear()
        calibration._solve.cache_clear()
        pld._composed.cache_clear()
        w0, c0 = time.perf_counter(), time.process_time()
        sigma = noise_for_epsilon(target_epsilon=target, delta=DELTA, sample_rate=q, steps=steps,
                                  extra_gaussians=extra)
        spend = account(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=DELTA,
                        extra_gaussians=extra)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        print(f"q={q:.4f} T={steps:5d} target={target:7.3f} stats={bool(extra)!s:5} "
              f"sigma={sigma:8.4f} eps={spend.epsilon:8.4f} rdp={spend.epsilon_rdp:8.4f} "
              f"wall {walls[-1] * 1e3:6.1f} ms  cpu {cpus[-1] * 1e3:6.1f} ms")
    print(f"\nmedian wall {statistics.median(walls) * 1e3:.1f} ms (max {max(walls) * 1e3:.1f}); "
          f"median cpu {statistics.median(cpus) * 1e3:.1f} ms (max {max(cpus) * 1e3:.1f})")


if __name__ == "__main__":
    main()
