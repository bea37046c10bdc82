"""Seconds per epoch of DP-SGD: the Opacus reference vs the fast engine vs non-private.

Trains logistic regression and an MLP on Adult (expected batch 256) with

* ``opacus``: the reference engine (GradSampleModule + DPOptimizer + Poisson loader);
* ``fast``: the vectorised engine, private (clip + noise);
* ``nonprivate``: the fast engine's loop without clipping or noise (our own
  closed-form gradients: the strictest non-private baseline);
* ``autograd``: plain non-private PyTorch training over the same full tensors
  and the same Poisson batches (``model(xb)``, loss, ``backward()``,
  ``torch.optim.SGD``): the standard non-private full-tensor loop a user
  would write, and the baseline of issue 3's prototype numbers;

and reports the median wall-clock seconds per epoch over ``--repeats`` runs after
one warm-up run of each variant (runs interleaved so machine noise hits all
variants alike). Targets: opacus / fast >= 8 and fast <= 1.3x non-private
training; the table gives the ratio against both non-private baselines.

Usage::

    python bench/dpsgd.py                    # 1 torch thread, 5 repeats, 2 epochs per run
    python bench/dpsgd.py --threads 0        # torch's default thread count
    python bench/dpsgd.py --quick            # smoke run: 2 repeats, 1 epoch

Writes ``bench/results/dpsgd.json``. Not a test: numbers depend on the machine
and on what else runs on it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from trifront.models import make_model
from trifront.privacy import TrainConfig, train
from trifront.privacy.accounting import sampling_schedule
from trifront.privacy.dpsgd import make_generators
from trifront.privacy.sampling import poisson_batches

VARIANTS = {
    # name: (engine, private)
    "opacus": ("opacus", True),
    "fast": ("fast", True),
    "nonprivate": ("fast", False),
    "autograd": ("autograd", False),
}


def load_data(seed: int) -> tuple[str, torch.Tensor, torch.Tensor]:
    """Adult's training split, or a synthetic stand-in of Adult's shape."""
    try:
        from trifront.datasets import load_dataset

        ds = load_dataset("adult", seed=seed)
        X = torch.as_tensor(np.asarray(ds.train.X, dtype=np.float32))
        y = torch.as_tensor(np.asarray(ds.train.y, dtype=np.float32))
        return "adult", X, y
    except Exception as exc:  # noqa: BLE001 - any failure falls back to synthetic data
        print(f"(adult unavailable: {exc!r}; using synthetic data of its shape)", file=sys.stderr)
        g = torch.Generator().manual_seed(seed)
        X = (torch.rand(30162, 104, generator=g) < 0.1).float()
        y = (X @ torch.randn(104, generator=g) + 0.1 * torch.randn(30162, generator=g) > 0).float()
        return "synthetic-adult-shape", X, y


def autograd_train(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, config, seed: int):
    """Plain non-private training: autograd + SGD over the same Poisson batches as DP-SGD."""
    q, steps = sampling_schedule(n_train=len(X), batch_size=config.batch_size, epochs=config.epochs)
    g_sample, _ = make_generators(seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr)
    expected = q * len(X)
    per_epoch = int(np.ceil(1 / q))
    for first in range(0, steps, per_epoch):
        block = min(per_epoch, steps - first)
        indices, offsets = poisson_batches(len(X), q, block, g_sample)
        for k in range(block):
            idx = indices[offsets[k] : offsets[k + 1]]
            optimiser.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(X.index_select(0, idx)), y.index_select(0, idx), reduction="sum"
            )
            (loss / expected).backward()
            optimiser.step()
    return not bool(torch.isfinite(loss))


def time_run(
    model_name: str, variant: str, X: torch.Tensor, y: torch.Tensor, args
) -> tuple[float, float]:
    """Wall-clock and CPU seconds per epoch of one ``train`` call (model built outside)."""
    engine, private = VARIANTS[variant]
    config = TrainConfig(
        lr=0.5,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_grad_norm=1.0 if private else None,
        noise_multiplier=1.0 if private else 0.0,
    )
    model = make_model(model_name, n_features=X.shape[1], hidden=(args.hidden,), seed=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    if engine == "autograd":
        diverged = autograd_train(model, X, y, config, seed=0)
    else:
        diverged = train(model, X, y, config, seed=0, engine=engine).diverged
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if diverged:
        raise RuntimeError(f"{model_name}/{variant} diverged in the benchmark")
    return seconds / args.epochs, cpu / args.epochs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["logreg", "mlp"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=64, help="MLP hidden width")
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 = default")
    parser.add_argument("--quick", action="store_true", help="2 repeats of 1 epoch")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "dpsgd.json"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.epochs = 2, 1
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    data_name, X, y = load_data(seed=0)
    n, d = X.shape
    print(
        f"data {data_name}: n_train={n} d={d}; expected batch {args.batch_size}; "
        f"torch threads {torch.get_num_threads()}; {args.repeats} repeats x {args.epochs} epochs"
    )

    results: dict[str, dict[str, dict[str, object]]] = {}
    for model_name in args.models:
        for variant in args.variants:  # warm-up
            time_run(model_name, variant, X, y, args)
        wall: dict[str, list[float]] = {v: [] for v in args.variants}
        cpu: dict[str, list[float]] = {v: [] for v in args.variants}
        for _ in range(args.repeats):
            for variant in args.variants:  # interleaved: machine noise hits all alike
                w, c = time_run(model_name, variant, X, y, args)
                wall[variant].append(w)
                cpu[variant].append(c)
        results[model_name] = {
            v: {
                "median_s_per_epoch": statistics.median(wall[v]),
                "min_s_per_epoch": min(wall[v]),
                "median_cpu_s_per_epoch": statistics.median(cpu[v]),
                "runs_s_per_epoch": wall[v],
                "runs_cpu_s_per_epoch": cpu[v],
            }
            for v in args.variants
        }

    header = (
        f"{'model':8} {'variant':11} {'median s/epoch':>15} {'min s/epoch':>12} "
        f"{'median cpu s/epoch':>19}"
    )
    print(header)
    print("-" * len(header))
    ratios: dict[str, dict[str, float]] = {}
    for model_name, res in results.items():
        for v, r in res.items():
            print(
                f"{model_name:8} {v:11} {r['median_s_per_epoch']:15.4f} "
                f"{r['min_s_per_epoch']:12.4f} {r['median_cpu_s_per_epoch']:19.4f}"
            )
        ratios[model_name] = {}
        for clock, key in (("", "median_s_per_epoch"), ("cpu_", "median_cpu_s_per_epoch")):
            med = {v: float(r[key]) for v, r in res.items()}  # type: ignore[arg-type]
            if "opacus" in med and "fast" in med:
                ratios[model_name][f"{clock}opacus_over_fast"] = med["opacus"] / med["fast"]
            for base in ("nonprivate", "autograd"):
                if "fast" in med and base in med:
                    ratios[model_name][f"{clock}fast_over_{base}"] = med["fast"] / med[base]
    print()
    for model_name, r in ratios.items():
        parts = []
        for clock, label in (("", "wall"), ("cpu_", "cpu")):
            if f"{clock}opacus_over_fast" in r:
                x = r[f"{clock}opacus_over_fast"]
                parts.append(
                    f"{label} opacus/fast = {x:.1f}x ({'ok' if x >= 8 else 'MISSED'} >= 8)"
                )
            for base in ("nonprivate", "autograd"):
                if f"{clock}fast_over_{base}" in r:
                    x = r[f"{clock}fast_over_{base}"]
                    parts.append(
                        f"{label} fast/{base} = {x:.2f}x ({'ok' if x <= 1.3 else 'MISSED'} <= 1.3)"
                    )
        print(f"{model_name:8} " + "; ".join(parts))
    command = " ".join([os.path.relpath(sys.executable), *sys.argv])
    print(f"\ncommand: {command}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "dpsgd seconds per epoch",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "settings": {
            "data": data_name,
            "n_train": n,
            "n_features": d,
            "batch_size": args.batch_size,
            "hidden": args.hidden,
            "epochs_per_run": args.epochs,
            "repeats": args.repeats,
            "torch_threads": torch.get_num_threads(),
            "lr": 0.5,
            "max_grad_norm": 1.0,
            "noise_multiplier": 1.0,
        },
        "results": results,
        "ratios": ratios,
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
