#!/usr/bin/env python3
# Compares fmplay's eval.csv with the PyTorch reference's torch_eval.csv as a Markdown table.
"""Usage: python3 bench/compare_eval.py docs/eval/eval.csv docs/eval/torch_eval.csv > compare.md

Per task x method: ours mean ± sd and PyTorch's mean ± sd (sd over seeds, n - 1) for W2, NPE,
straightness, NLL and train seconds, a verdict per metric, and the train-time ratio torch/ours.
A metric is "within spread" when |mean_ours - mean_torch| <= 2 sqrt(sd_ours^2 + sd_torch^2).
Standard library only.
"""
import csv
import math
import sys

METRICS = [("w2", "W2", "%.3f"), ("npe", "NPE", "%.3f"), ("straightness", "straightness", "%.3g"),
           ("nll", "NLL", "%.3f"), ("train_seconds", "train s", "%.1f")]
LABELS = {"icfm": "I-CFM", "otcfm": "OT-CFM", "sbcfm": "SB-CFM", "reflow": "Reflow k=1"}


def read(path):
    """{(task, method): {metric: [values]}} in first-seen order; empty cells are left out."""
    groups = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            g = groups.setdefault((row["task"], row["method"]), {k: [] for k, _, _ in METRICS})
            for k, _, _ in METRICS:
                if row.get(k, "") != "":
                    g[k].append(float(row[k]))
    return groups


def mean_sd(v):
    if not v:
        return None, None
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd


def show(m, sd, fmt):
    return "—" if m is None else (fmt % m) + " ± " + (fmt % sd)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[0])
    ours_path, torch_path = sys.argv[1], sys.argv[2]
    ours, torch = read(ours_path), read(torch_path)
    keys = [k for k in ours if k in torch] + [k for k in torch if k not in ours]
    out = ["# fmplay eval vs the PyTorch reference", "",
           f"Ours: `{ours_path}`; PyTorch: `{torch_path}` (bench/torch_eval_reference.py). Each "
           "cell is mean ± sd over seeds (n − 1); n is the seed count of each side.", "",
           "Rule: a metric is **within spread** when |mean_ours − mean_torch| ≤ "
           "2·√(sd_ours² + sd_torch²), with sd the seed-to-seed standard deviation of each side "
           "(not the standard error of the mean, so the rule asks whether the two "
           "implementations differ by more than their seed spread, as issue #13 frames it). "
           "Each verdict gives z = |Δmean| / √(sd_ours² + sd_torch²): within spread means z ≤ 2. Train time is "
           "judged by the same rule for completeness; its ratio torch/ours is the figure that "
           "matters.", ""]
    head = "| task | method | n ours / torch |"
    rule = "|---|---|---|"
    for _, label, _ in METRICS:
        head += f" {label} ours | {label} PyTorch | {label} verdict |"
        rule += "---|---|---|"
    head += " train time torch/ours |"
    rule += "---|"
    out += [head, rule]
    tally = {k: [0, 0] for k, _, _ in METRICS}
    outside = []
    last = None
    for key in keys:
        task, method = key
        a, b = ours.get(key), torch.get(key)
        n_a = len(a["w2"]) if a else 0
        n_b = len(b["w2"]) if b else 0
        line = f"| {'' if task == last else task} | {LABELS.get(method, method)} | {n_a} / {n_b} |"
        last = task
        for k, label, fmt in METRICS:
            ma, sa = mean_sd(a[k]) if a else (None, None)
            mb, sb = mean_sd(b[k]) if b else (None, None)
            verdict = "—"
            if ma is not None and mb is not None:
                spread = math.sqrt(sa * sa + sb * sb)
                diff = abs(ma - mb)
                z = diff / spread if spread > 0 else (0.0 if diff == 0 else math.inf)
                if diff <= 2.0 * spread:
                    verdict = "within spread (z %.2f)" % z
                    tally[k][0] += 1
                else:
                    verdict = "**outside** (z %.1f)" % z
                    outside.append(f"{task} {LABELS.get(method, method)} {label}")
                tally[k][1] += 1
            line += f" {show(ma, sa, fmt)} | {show(mb, sb, fmt)} | {verdict} |"
        ta, _ = mean_sd(a["train_seconds"]) if a else (None, None)
        tb, _ = mean_sd(b["train_seconds"]) if b else (None, None)
        line += (" %.1fx |" % (tb / ta)) if ta and tb else " — |"
        out.append(line)
    out += ["", "Within spread, per metric: " + "; ".join(
        f"{label} {tally[k][0]}/{tally[k][1]}" for k, label, _ in METRICS) + "."]
    quality = [o for o in outside if not o.endswith("train s")]
    out += ["", "Quality cells outside the spread: " + (", ".join(quality) if quality else "none") + "."]
    print("\n".join(out))


if __name__ == "__main__":
    main()
