#!/usr/bin/env python3
"""Effect sizes over a committed report's seed replicates, for the figures in docs/experiments.md.

    scripts/runs-stats.py RUNS_CSV COLUMN BASELINE [RUN_DIR] [--where COL=VALUE]...

RUNS_CSV is a report's runs.csv (docs/reports/NAME/runs.csv: one row per run, with a `seed`
column and accuracy, auc, eer); COLUMN names the arm (e.g. per_id, prob); BASELINE is that
column's value every other arm is compared with. Prints each arm's mean ± std, then for
accuracy (points), AUC and EER the difference against the baseline with Welch's t (95% CI, p)
and the paired t over replicates matched by seed (the arms of one replicate share their
people in synface's pipelines), and with six or more pairs Wilcoxon's signed-rank p and the
count of replicates the arm leads. With RUN_DIR (a run folder, runs/NAME), also each
training's mean loss per tenth of its steps and its training accuracy over the last tenth,
from points/*/train/curve.csv. --where keeps only the rows whose COL is VALUE (repeatable): a
report crossing two axes (cpu-mixup-capacity's net, cpu-mixup-shift's test) is compared one
value of the other axis at a time, and two rows of one arm and seed without it are refused
(RUN_DIR's curves are those of the kept rows' point_ids). Needs scipy
(python3 -m venv V && V/bin/pip install scipy).
The report's own "Contrasts" table gives the same accuracy tests; this adds AUC and EER.
"""
import argparse
import csv
import glob
import os
import statistics as st
import sys

from scipy import stats

SCALE = {"accuracy": 100.0, "auc": 1.0, "eer": 1.0}


def by_arm(rows, column):
    arms = {}
    for r in rows:
        arm = arms.setdefault(r[column], {})
        seed = int(r["seed"])
        if seed in arm:
            others = [c for c in r if c not in (column, "seed") and arm[seed][c] != r[c]]
            sys.exit(f"two rows for {column} = {r[column]}, seed {seed}, differing in "
                     f"{', '.join(others[:4])}: pick one with --where COL=VALUE")
        arm[seed] = r
    return arms


def keep(rows, wheres):
    for w in wheres:
        col, _, value = w.partition("=")
        if col not in rows[0]:
            sys.exit(f"--where {w}: no column {col!r} (columns: {', '.join(rows[0])})")
        rows = [r for r in rows if r[col] == value]
        if not rows:
            sys.exit(f"--where {w}: no row has {col} = {value}")
    return rows


def values(arm, metric, seeds=None):
    return [float(arm[s][metric]) * SCALE[metric] for s in (sorted(arm) if seeds is None else seeds)]


def summary(arms):
    for name, arm in arms.items():
        acc = values(arm, "accuracy")
        print(f"{name}: accuracy {st.mean(acc):.2f} ± {st.stdev(acc):.2f} "
              f"(per seed {', '.join(f'{a:.2f}' for a in acc)}), "
              f"AUC {st.mean(values(arm, 'auc')):.4f}, EER {st.mean(values(arm, 'eer')):.3f}")


def contrast(name, arm, base, metric):
    x, y = values(arm, metric), values(base, metric)
    welch = stats.ttest_ind(x, y, equal_var=False)
    wci = welch.confidence_interval()
    seeds = sorted(set(arm) & set(base))
    if len(seeds) < 2:
        print(f"  {name} - baseline, {metric}: {st.mean(x) - st.mean(y):+.4f}, Welch "
              f"[{wci.low:+.4f}, {wci.high:+.4f}] p = {welch.pvalue:.3f}; no paired test "
              f"({len(seeds)} seed(s) in common)")
        return
    xp, yp = values(arm, metric, seeds), values(base, metric, seeds)
    paired = stats.ttest_rel(xp, yp)
    pci = paired.confidence_interval()
    diffs = [a - b for a, b in zip(xp, yp)]
    line = (f"  {name} - baseline, {metric}: {st.mean(x) - st.mean(y):+.4f}, Welch "
            f"[{wci.low:+.4f}, {wci.high:+.4f}] p = {welch.pvalue:.3f}; paired "
            f"[{pci.low:+.4f}, {pci.high:+.4f}] p = {paired.pvalue:.3f}; per seed "
            f"{', '.join(f'{d:+.4f}' for d in diffs)}")
    if len(diffs) >= 6:
        line += (f"; Wilcoxon p = {stats.wilcoxon(xp, yp).pvalue:.3f}, "
                 f"leads {sum(d > 0 for d in diffs)}/{len(diffs)}")
    print(line)


def loss_tenths(run_dir, point_ids):
    for path in sorted(glob.glob(os.path.join(run_dir, "points", "*", "train", "curve.csv"))):
        # a point folder is <point id>-col=value,...; only the runs kept from runs.csv
        folder = os.path.basename(os.path.dirname(os.path.dirname(path)))
        if folder.partition("-")[0] not in point_ids:
            continue
        rows = list(csv.DictReader(open(path)))
        n = len(rows)
        tenths = [rows[i * n // 10:(i + 1) * n // 10] for i in range(10)]
        loss = " ".join(f"{st.mean(float(r['loss']) for r in t):.2f}" for t in tenths)
        acc = st.mean(float(r["train_acc"]) for r in tenths[-1])
        point = os.path.basename(os.path.dirname(os.path.dirname(path)))
        print(f"{point}: loss per tenth {loss}; last-tenth training accuracy {acc:.3f}")


def main(argv):
    cli = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].strip())
    cli.add_argument("runs_csv")
    cli.add_argument("column")
    cli.add_argument("baseline")
    cli.add_argument("run_dir", nargs="?")
    cli.add_argument("--where", action="append", default=[], metavar="COL=VALUE")
    a = cli.parse_args(argv[1:])
    rows = list(csv.DictReader(open(a.runs_csv)))
    if not rows:
        sys.exit(f"{a.runs_csv} has no runs")
    rows = keep(rows, a.where)
    if a.column not in rows[0]:
        sys.exit(f"no column {a.column!r} in {a.runs_csv} (columns: {', '.join(rows[0])})")
    arms = by_arm(rows, a.column)
    if a.baseline not in arms:
        sys.exit(f"no arm {a.column} = {a.baseline} in {a.runs_csv} (arms: {', '.join(arms)})")
    few = [name for name, arm in arms.items() if len(arm) < 2]
    if few:
        sys.exit(f"arms with fewer than two replicates: {', '.join(few)} (a spread needs two)")
    summary(arms)
    for name, arm in arms.items():
        if name != a.baseline:
            for metric in SCALE:
                contrast(name, arm, arms[a.baseline], metric)
    if a.run_dir:
        loss_tenths(a.run_dir, {r["point_ids"] for r in rows})


if __name__ == "__main__":
    main(sys.argv)
