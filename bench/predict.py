"""Prediction speed of an exported model on a million rows (issue 18).

Exports two Adult models once (logistic regression, and a 2-layer MLP of width 64
with per-group thresholds), builds N raw rows by drawing Adult test rows with
replacement (raw strings, as a file holds them), and measures:

* ``api``: ``trifront.load_model(DIR).predict_proba(frame)`` on the in-memory
  DataFrame (encode with the exported schema, forward, rule), split into
  encoding and the network's forward pass;
* ``cli``: ``trifront predict DIR --data rows.csv --out preds.csv`` as a fresh
  process, end to end (interpreter and torch start-up, reading the CSV,
  encoding, predicting, the accuracy and gap of the labelled rows, writing the
  predictions): wall time, and the process's CPU time (user + system), which a
  busy machine does not inflate.

Run from the project root on a quiet machine:

    .venv/bin/python bench/predict.py                   # N = 1,000,000, 3 repeats
    .venv/bin/python bench/predict.py --rows 200000 --repeats 1

Writes ``bench/results/predict.json`` and prints a table (median of the repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from trifront.datasets.registry import raw_split
from trifront.deploy import export_model, load_model
from trifront.problem import Problem

MODELS = {
    "logreg": ("logreg", {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5, "batch_size": 512,
                          "epochs": 3}),
    "mlp-64x2+thresholds": ("mlp", {"target_epsilon": 1.0, "clip": 1.0, "lr": 0.5,
                                    "batch_size": 512, "epochs": 3, "hidden": 64, "depth": 2,
                                    "group_thresholds": 0.05}),
}


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(directory: Path, frame, csv: Path, repeats: int) -> dict:
    model = load_model(directory)
    rows: dict[str, list[float]] = {"encode_s": [], "forward_s": [], "api_s": [], "cli_s": [],
                                    "cli_cpu_s": []}
    for _ in range(repeats):
        t_enc, X = _time(lambda: model.encoder.features(frame))
        rows["encode_s"].append(t_enc)
        rows["forward_s"].append(_time(lambda X=X: model.logits(X))[0])
        rows["api_s"].append(_time(lambda: model.predict_proba(frame))[0])
        out = csv.with_suffix(".preds.csv")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t_cli, proc = _time(lambda out=out: subprocess.run(
            [sys.executable, "-m", "trifront.cli", "predict", str(directory), "--data",
             str(csv), "--out", str(out)], capture_output=True, text=True, check=True))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows["cli_s"].append(t_cli)
        rows["cli_cpu_s"].append(after.ru_utime + after.ru_stime - before.ru_utime
                                 - before.ru_stime)
    summary = {k: statistics.median(v) for k, v in rows.items()}
    summary["runs"] = rows
    summary["cli_says"] = proc.stderr.strip()
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench/results/predict.json")
    args = ap.parse_args()

    test = raw_split("adult", split="test")
    pick = np.random.default_rng(0).integers(0, len(test), args.rows)
    frame = test.iloc[pick].reset_index(drop=True)
    results: dict = {
        "rows": args.rows, "repeats": args.repeats, "machine": platform.processor() or
        platform.machine(), "cores": os.cpu_count(), "load_before": os.getloadavg()[0],
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "rows.csv"
        frame.to_csv(csv, index=False)
        results["csv_mb"] = round(csv.stat().st_size / 1e6, 1)
        for name, (kind, params) in MODELS.items():
            directory = Path(tmp) / name
            export_model(Problem(dataset="adult", model=kind), params, directory, seed=0)
            results["models"][name] = measure(directory, frame, csv, args.repeats)
    results["load_after"] = os.getloadavg()[0]

    print(f"{args.rows:,} Adult rows ({results['csv_mb']} MB CSV), median of {args.repeats}; "
          f"load {results['load_before']:.2f} -> {results['load_after']:.2f}")
    print(f"{'model':<22}{'encode s':>10}{'forward s':>11}{'API s':>8}{'CLI s':>8}"
          f"{'CLI cpu s':>11}")
    for name, r in results["models"].items():
        print(f"{name:<22}{r['encode_s']:>10.2f}{r['forward_s']:>11.3f}{r['api_s']:>8.2f}"
              f"{r['cli_s']:>8.2f}{r['cli_cpu_s']:>11.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
