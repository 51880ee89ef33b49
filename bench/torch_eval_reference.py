#!/usr/bin/env python3
# The PyTorch reference run of `fmplay eval`'s 2D benchmark protocol (docs/EVAL.md), written independently.
"""An independent PyTorch implementation of the protocol `fmplay eval` runs (app/run/eval_run.cpp).

Tasks SOURCE-TARGET over the datasets of core/data/dataset.cpp (normal, 8gaussians, moons,
scurve), methods I-CFM, OT-CFM, SB-CFM and Reflow k=1, each model a 3 x 64 SiLU MLP on (x, y, t)
(nn.Linear's default init, which is ours: W and b ~ U(+-1/sqrt(fan_in))), Adam lr 1e-3,
batch 256, 20,000 steps, CondOT path x_t = (1 - t) x0 + t x1 with target x1 - x0, loss
mean_i |v_i - u_i|^2 (summed over the two coordinates, as ours).

  OT-CFM: each batch re-paired by the exact assignment (scipy's linear_sum_assignment,
          squared Euclidean cost).
  SB-CFM: a log-domain Sinkhorn (written here; potentials in the log domain, see sinkhorn_plan)
          on the unnormalised squared Euclidean cost with eps = 2 sigma^2 (0.5 for sigma 0.5),
          stopped when every row and column sum is within 1e-4 (relative) of 1/n; n pairs drawn
          from the plan with replacement; x_t gets sigma sqrt(t(1-t)) z and the target
          sigma (1 - 2t) / (2 sqrt(t(1-t))) z, with t clamped to [1e-4, 1 - 1e-4] in that rate
          only (core/flow/coupling.cpp).
  Reflow: I-CFM, then 10,000 pairs (x0, x1_hat) by RK4 with 16 steps, then a copy of the model
          (fresh Adam) trained on batches drawn from those pairs with replacement for as many
          steps again; its train time is both trainings plus the pair generation.

Measures (as app/run/eval_run.cpp and core/instruments/reflow.cpp):
  w2            exact W2 (optimal assignment) between 1000 Euler samples (100 steps) and 1000
                held-out target points; w2_floor the same between two target samples.
  npe, straightness  from 1000 paths of 64 midpoint steps: path energy PE = sum |dx|^2 / dt / n,
                npe = |PE - W2^2(start, target draw)| / W2^2, S = mean over steps and paths of
                |(X1 - X0) - dX/dt|^2.
  nll           -mean log p_1 of the held-out points by the instantaneous change of variables,
                exact divergence (autograd), 32 RK4 steps from t = 1 back to 0; normal source only.
  train_seconds wall time of the training loop (batch sampling and coupling included).

Writes OUT/torch_eval.csv (the columns of docs/eval/eval.csv) and OUT/torch_eval.md (the table
format of docs/eval/eval.md). Run it through bench/run_torch_eval.sh (OpenBLAS, thread env).
"""
import argparse
import datetime
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from scipy.optimize import linear_sum_assignment

TASKS = ["normal-8gaussians", "moons-8gaussians", "normal-moons", "normal-scurve"]
METHODS = ["icfm", "otcfm", "sbcfm", "reflow"]
LABELS = {"icfm": "I-CFM", "otcfm": "OT-CFM", "sbcfm": "SB-CFM", "reflow": "Reflow k=1"}
DATASETS = ["normal", "8gaussians", "moons", "scurve"]
HAS_DENSITY = {"normal"}  # of these four, the ones whose log density we use for the NLL


# ----------------------------------------------------------------------------- datasets
def sample(kind, n, rng):
    """n points of a dataset as core/data/dataset.cpp defines it (float64, shape n x 2)."""
    if kind == "normal":
        return rng.standard_normal((n, 2))
    if kind == "8gaussians":
        a = rng.integers(0, 8, n) * (math.pi / 4.0)
        centres = 2.5 * np.stack([np.cos(a), np.sin(a)], axis=1)
        return centres + 0.2 * rng.standard_normal((n, 2))
    if kind == "moons":
        upper = rng.integers(0, 2, n) == 0
        u = rng.random(n) * math.pi
        x = np.where(upper, np.cos(u), 1.0 - np.cos(u))
        y = np.where(upper, np.sin(u), 0.5 - np.sin(u))
        pts = 1.6 * np.stack([x - 0.5, y - 0.25], axis=1)
        return pts + 0.08 * rng.standard_normal((n, 2))
    if kind == "scurve":
        t = 3.0 * math.pi * (rng.random(n) - 0.5)
        z = np.where(t < 0.0, -1.0, 1.0) * (np.cos(t) - 1.0)
        pts = 1.2 * np.stack([np.sin(t), z], axis=1)
        return pts + 0.08 * rng.standard_normal((n, 2))
    raise ValueError("unknown dataset " + kind)


def log_density_normal(x):
    return -math.log(2.0 * math.pi) - 0.5 * (x * x).sum(dim=1)


# ----------------------------------------------------------------------------- couplings
def sq_dist(a, b):
    """Squared Euclidean cost matrix (float64)."""
    d0 = a[:, None, 0] - b[None, :, 0]
    d1 = a[:, None, 1] - b[None, :, 1]
    return d0 * d0 + d1 * d1


def w2_exact(a, b):
    c = sq_dist(np.asarray(a, np.float64), np.asarray(b, np.float64))
    r, k = linear_sum_assignment(c)
    return math.sqrt(c[r, k].mean())


def _lse(m, axis):
    """log sum exp along an axis, shifted by the maximum."""
    top = m.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(m - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def sinkhorn_plan(a, b, eps, tol=1e-4, max_iter=2000, limit=30.0):
    """Entropic OT plan between uniform point clouds a (n) and b (m), cost |a_i - b_j|^2.

    Log-domain Sinkhorn: the dual potentials f, g live in the log domain and the plan is
    P_ij = exp((f_i + g_j - C_ij) / eps). Each half step is the log-sum-exp update
        g_j = eps log(1/m) - eps log sum_i exp((f_i - C_ij) / eps)      (columns exact)
        f_i = eps log(1/n) - eps log sum_j exp((g_j - C_ij) / eps)      (rows exact)
    evaluated with the kernel K = exp((f0 + g0 - C) / eps) built on reference potentials f0, g0:
    then sum_i exp((f_i - C_ij) / eps) = exp(-g0_j / eps) (K^T u)_j with u = exp((f - f0) / eps),
    a matrix-vector product instead of a full log-sum-exp. Whenever f - f0 or g - g0 leaves
    [-limit eps, limit eps] the potentials are absorbed into a fresh kernel (the stabilised
    log-domain scheme, Schmitzer 2019), so nothing over- or underflows at any eps; a product that
    underflows anyway falls back to the exact log-sum-exp. Stops when every column sum is within
    tol of 1/m, relative (the rows are exact), as core/flow/sinkhorn.cpp does.
    Returns the plan (n x m, float64, entries summing to 1) and the iterations.
    """
    n, m = len(a), len(b)
    nc = -sq_dist(a, b) / eps  # -C / eps
    log_a, log_b = -math.log(n), -math.log(m)
    g = np.zeros(m)
    f = eps * (log_a - _lse(nc, 1))  # the f update for g = 0: every row of K peaks at 1

    def kernel_of(f0, g0):
        return np.exp(nc + (f0[:, None] + g0[None, :]) / eps)

    f0, g0 = f.copy(), g.copy()
    k = kernel_of(f0, g0)
    it = 0
    while it < max_iter:
        u = np.exp((f - f0) / eps)
        ktu = k.T @ u
        v = np.exp((g - g0) / eps)
        if it > 0 and np.abs(m * v * ktu - 1.0).max() <= tol:
            break
        it += 1
        if np.all(ktu > 1e-280):
            g = g0 + eps * (log_b - np.log(ktu))
        else:
            g = eps * (log_b - _lse(nc + f[:, None] / eps, 0))
        if np.abs(g - g0).max() > limit * eps:
            f0, g0 = f.copy(), g.copy()
            k = kernel_of(f0, g0)
        v = np.exp((g - g0) / eps)
        kv = k @ v
        if np.all(kv > 1e-280):
            f = f0 + eps * (log_a - np.log(kv))
        else:
            f = eps * (log_a - _lse(nc + g[None, :] / eps, 1))
        if np.abs(f - f0).max() > limit * eps:
            f0, g0 = f.copy(), g.copy()
            k = kernel_of(f0, g0)
    plan = np.exp(nc + (f[:, None] + g[None, :]) / eps)
    return plan / plan.sum(), it


def sample_plan_pairs(plan, count, rng):
    """count pairs (i, j) drawn independently with probability plan_ij."""
    cdf = np.cumsum(plan.ravel())
    k = np.searchsorted(cdf, rng.random(count) * cdf[-1], side="right")
    k = np.minimum(k, plan.size - 1)
    return k // plan.shape[1], k % plan.shape[1]


# ----------------------------------------------------------------------------- model
def make_mlp(width, depth):
    """depth hidden SiLU layers of `width` on (x, y, t) -> (vx, vy); nn.Linear's default init."""
    layers, d = [], 3
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.SiLU()]
        d = width
    layers.append(nn.Linear(d, 2))
    return nn.Sequential(*layers)


def velocity(model, x, t):
    """v(x, t) for points x (n x 2 tensor) at one time t (float)."""
    tt = torch.full((x.shape[0], 1), float(t), dtype=x.dtype)
    return model(torch.cat([x, tt], dim=1))


# ----------------------------------------------------------------------------- training
class BatchSource:
    """Batches (x_t and t as the net input, target u) for one method, drawn from one numpy rng."""

    def __init__(self, method, src, tgt, batch, sigma, rng, pairs=None):
        self.method, self.src, self.tgt, self.batch, self.sigma = method, src, tgt, batch, sigma
        self.rng, self.pairs = rng, pairs
        self.eps = 2.0 * sigma * sigma
        self.sinkhorn_iters = 0

    def next(self):
        b, rng = self.batch, self.rng
        if self.pairs is not None:  # reflow: one index for both sides
            j = rng.integers(0, len(self.pairs[0]), b)
            x0, x1 = self.pairs[0][j], self.pairs[1][j]
        else:
            x0 = sample(self.src, b, rng)
            x1 = sample(self.tgt, b, rng)
        t = rng.random(b)
        if self.method == "otcfm":
            r, k = linear_sum_assignment(sq_dist(x0, x1))
            x0, x1 = x0[r], x1[k]
        elif self.method == "sbcfm":
            plan, iters = sinkhorn_plan(x0, x1, self.eps)
            self.sinkhorn_iters += iters
            i, j = sample_plan_pairs(plan, b, rng)
            x0, x1 = x0[i], x1[j]
        tc = t[:, None]
        xt = (1.0 - tc) * x0 + tc * x1
        ut = x1 - x0
        if self.method == "sbcfm":
            z = rng.standard_normal((b, 2))
            xt = xt + self.sigma * np.sqrt(np.maximum(tc * (1.0 - tc), 0.0)) * z
            tk = np.clip(tc, 1e-4, 1.0 - 1e-4)
            ut = ut + self.sigma * (1.0 - 2.0 * tk) / (2.0 * np.sqrt(tk * (1.0 - tk))) * z
        inp = np.concatenate([xt, tc], axis=1).astype(np.float32)
        return torch.from_numpy(inp), torch.from_numpy(ut.astype(np.float32))


def train(model, batches, steps, lr):
    """Adam (fresh moments), `steps` steps; returns the wall time and the mean loss of the last 10%."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    tail, tail_sum = max(1, steps // 10), 0.0
    start = time.perf_counter()
    for s in range(steps):
        inp, target = batches.next()
        loss = (model(inp) - target).pow(2).sum(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if s >= steps - tail:
            tail_sum += loss.item()
    return time.perf_counter() - start, tail_sum / tail


# ----------------------------------------------------------------------------- integration
@torch.no_grad()
def integrate(model, x, steps, solver, frames=None):
    """Fixed-step integration from t = 0 to 1; frames (a list) receives every step's points."""
    dt = 1.0 / steps
    if frames is not None:
        frames.append(x.clone())
    for k in range(steps):
        t = k / steps
        if solver == "euler":
            x = x + dt * velocity(model, x, t)
        elif solver == "midpoint":
            k1 = velocity(model, x, t)
            x = x + dt * velocity(model, x + 0.5 * dt * k1, t + 0.5 * dt)
        elif solver == "rk4":
            k1 = velocity(model, x, t)
            k2 = velocity(model, x + 0.5 * dt * k1, t + 0.5 * dt)
            k3 = velocity(model, x + 0.5 * dt * k2, t + 0.5 * dt)
            k4 = velocity(model, x + dt * k3, t + dt)
            x = x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        else:
            raise ValueError(solver)
        if frames is not None:
            frames.append(x.clone())
    return x


def velocity_and_divergence(model, x, t):
    """v(x, t) and its exact divergence dvx/dx + dvy/dy (two autograd passes, rows independent)."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        v = velocity(model, xg, t)
        d0 = torch.autograd.grad(v[:, 0].sum(), xg, retain_graph=True)[0][:, 0]
        d1 = torch.autograd.grad(v[:, 1].sum(), xg)[0][:, 1]
    return v.detach(), (d0 + d1).detach()


def log_likelihood(model, x1, steps):
    """log p_1(x1) = log p_0(x_0) - int_0^1 div v dt, RK4 from t = 1 back to t = 0."""
    x = x1.clone()
    acc = torch.zeros(x.shape[0], dtype=x.dtype)
    dt = -1.0 / steps
    for k in range(steps):
        t = 1.0 - k / steps
        k1, d1 = velocity_and_divergence(model, x, t)
        k2, d2 = velocity_and_divergence(model, x + 0.5 * dt * k1, t + 0.5 * dt)
        k3, d3 = velocity_and_divergence(model, x + 0.5 * dt * k2, t + 0.5 * dt)
        k4, d4 = velocity_and_divergence(model, x + dt * k3, t + dt)
        x = x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        acc = acc + (dt / 6.0) * (d1 + 2.0 * d2 + 2.0 * d3 + d4)  # int_1^0 div = -int_0^1 div
    return log_density_normal(x) + acc


# ----------------------------------------------------------------------------- measures
def straightness_and_npe(model, src, tgt, n, rng, steps=64):
    start = torch.from_numpy(sample(src, n, rng).astype(np.float32))
    target = sample(tgt, n, rng)
    frames = []
    integrate(model, start, steps, "midpoint", frames)
    f = torch.stack(frames).double()  # (steps + 1) x n x 2
    d = f[1:] - f[:-1]
    vel = d * steps
    chord = f[-1] - f[0]
    straight = ((chord[None] - vel) ** 2).sum(dim=2).sum().item() / steps / n
    pe = (d ** 2).sum().item() * steps / n
    w2sq = w2_exact(start.numpy(), target) ** 2
    npe = abs(pe - w2sq) / w2sq if w2sq > 0 else float("nan")
    return npe, straight


def run_cell(task, method, seed, a):
    src, tgt = task.split("-", 1)
    ss = np.random.SeedSequence([seed, 0x70C4])
    train_rng, pair_rng, held_rng, sample_rng, path_rng = (
        np.random.default_rng(s) for s in ss.spawn(5))
    torch.manual_seed(seed)
    model = make_mlp(a.width, a.depth)
    base = "icfm" if method == "reflow" else method
    secs, loss = train(model, BatchSource(base, src, tgt, a.batch, a.sb_sigma, train_rng),
                       a.steps, a.lr)
    if method == "reflow":
        t0 = time.perf_counter()
        x0 = sample(src, a.reflow_pairs, pair_rng).astype(np.float32)
        x1 = integrate(model, torch.from_numpy(x0), 16, "rk4").numpy()
        secs += time.perf_counter() - t0
        pairs = (x0.astype(np.float64), x1.astype(np.float64))
        second = make_mlp(a.width, a.depth)
        second.load_state_dict(model.state_dict())  # warm start; train() makes a fresh Adam
        s2, loss = train(second, BatchSource("icfm", src, tgt, a.batch, a.sb_sigma, train_rng,
                                             pairs=pairs), a.steps, a.lr)
        secs += s2
        model = second

    held = sample(tgt, a.points, held_rng)
    other = sample(tgt, a.points, held_rng)
    start = torch.from_numpy(sample(src, a.points, sample_rng).astype(np.float32))
    x = integrate(model, start, a.euler_steps, "euler").numpy()
    if not np.all(np.isfinite(x)):
        raise RuntimeError(f"{task} {method} seed {seed}: samples not finite")
    row = {"task": task, "method": method, "seed": seed}
    row["w2"] = w2_exact(x, held)
    row["w2_floor"] = w2_exact(other, held)
    row["npe"], row["straightness"] = straightness_and_npe(model, src, tgt, a.points, path_rng)
    if src in HAS_DENSITY:
        lp = log_likelihood(model, torch.from_numpy(held.astype(np.float32)), 32)
        row["nll"] = -lp.double().mean().item()
    else:
        row["nll"] = float("nan")
    row["train_seconds"] = secs
    row["loss"] = loss
    return row


# ----------------------------------------------------------------------------- output
def num(v, fmt):
    return "" if v is None or not math.isfinite(v) else fmt % v


def csv_text(rows):
    out = ["task,method,seed,w2,w2_floor,npe,straightness,nll,train_seconds"]
    for r in rows:
        out.append(",".join([r["task"], r["method"], str(r["seed"])] +
                            [num(r[k], "%.6g") for k in ("w2", "w2_floor", "npe", "straightness", "nll")] +
                            [num(r["train_seconds"], "%.4g")]))
    return "\n".join(out) + "\n"


def mean_sd(values):
    n = len(values)
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return m, sd


def cell(values, seeds, fmt):
    m, sd = mean_sd(values)
    if not math.isfinite(m):
        return "—"
    s = fmt % m
    if seeds > 1:
        s += " ± " + fmt % sd
    return s


def markdown_text(rows, preamble):
    groups = {}
    for r in rows:
        groups.setdefault((r["task"], r["method"]), []).append(r)
    s = preamble.rstrip("\n") + "\n"
    s += ("\n| task | method | seeds | W2 ↓ | NPE ↓ | straightness ↓ | NLL ↓ | train s |\n"
          "|---|---|---|---|---|---|---|---|\n")
    last = None
    floors = {}
    for (task, method), g in groups.items():
        n = len(g)
        col = lambda k: [r[k] for r in g]
        s += "| %s | %s | %d | %s | %s | %s | %s | %s |\n" % (
            "" if task == last else task, LABELS[method], n,
            cell(col("w2"), n, "%.3f"), cell(col("npe"), n, "%.3f"),
            cell(col("straightness"), n, "%.3g"), cell(col("nll"), n, "%.3f"),
            cell(col("train_seconds"), n, "%.1f"))
        last = task
        floors.setdefault(task, mean_sd(col("w2_floor"))[0])
    s += "\nW2 floor (two independent target samples of the same size):"
    s += ";".join(" %s %.3f" % (t, v) for t, v in floors.items()) + ".\n"
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma-separated SOURCE-TARGET")
    ap.add_argument("--methods", default=",".join(METHODS), help="icfm,otcfm,sbcfm,reflow")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sb-sigma", type=float, default=0.5)
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--euler-steps", type=int, default=100)
    ap.add_argument("--reflow-pairs", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="eval")
    a = ap.parse_args()
    tasks = [t for t in a.tasks.split(",") if t]
    methods = [m for m in a.methods.split(",") if m]
    for t in tasks:
        parts = t.split("-", 1)
        if len(parts) != 2 or parts[0] not in DATASETS or parts[1] not in DATASETS:
            ap.error(f"task {t!r}: SOURCE-TARGET with both in {DATASETS}")
    for m in methods:
        if m not in METHODS:
            ap.error(f"method {m!r}: one of {METHODS}")
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    cells = len(tasks) * len(methods) * a.seeds
    wall = time.perf_counter()
    for task in tasks:
        for method in methods:
            for k in range(a.seeds):
                seed = a.first_seed + k
                print(f"[{len(rows) + 1}/{cells}] {task}, {method}, seed {seed} ...", end="",
                      file=sys.stderr, flush=True)
                r = run_cell(task, method, seed, a)
                rows.append(r)
                print(f" W2 {r['w2']:.3f}  NPE {r['npe']:.3f}  S {r['straightness']:.3g}  "
                      f"NLL {num(r['nll'], '%.3f') or '-'}  loss {r['loss']:.3f}  "
                      f"train {r['train_seconds']:.1f} s", file=sys.stderr, flush=True)
                # Rewritten after every cell, so a long run that is stopped keeps what it made.
                with open(os.path.join(a.out, "torch_eval.csv"), "w") as fh:
                    fh.write(csv_text(rows))
    date = datetime.datetime.utcnow().strftime("%Y-%m-%d")
    preamble = (
        f"# PyTorch reference of fmplay eval ({date}, torch {torch.__version__}, CPU "
        f"({torch.get_num_threads()} threads))\n\n"
        "The protocol of `fmplay eval` (docs/EVAL.md) re-implemented independently in PyTorch by "
        "bench/torch_eval_reference.py: "
        f"{a.steps} training steps per model (reflow: {a.steps} more on {a.reflow_pairs} pairs "
        f"made by rk4 with 16 steps, warm-started), batch {a.batch}, {a.depth} x {a.width} SiLU "
        f"MLP, Adam lr {a.lr:g}, SB-CFM sigma {a.sb_sigma:g} (log-domain Sinkhorn, eps = 2 "
        f"sigma^2); W2 is the exact 2-Wasserstein distance between {a.points} Euler samples "
        f"({a.euler_steps} steps) and {a.points} held-out target points; NPE and straightness "
        "from 64 midpoint steps; NLL (nats) of the held-out points by the exact divergence "
        "(32 RK4 steps), only where the source density is known. Mean ± sd over "
        f"{a.seeds} seed(s) (from {a.first_seed}). Dataset definitions: docs/EVAL.md.\n")
    with open(os.path.join(a.out, "torch_eval.csv"), "w") as fh:
        fh.write(csv_text(rows))
    md = markdown_text(rows, preamble)
    with open(os.path.join(a.out, "torch_eval.md"), "w") as fh:
        fh.write(md)
    print(markdown_text(rows, ""))
    print(f"wrote {a.out}/torch_eval.csv and {a.out}/torch_eval.md "
          f"({time.perf_counter() - wall:.0f} s)")


if __name__ == "__main__":
    main()
