"""The report's figures, drawn with matplotlib's Agg backend (no display needed).

- group_figure: training loss, train accuracy and test accuracy against iteration
  for the ablations of one figure group: mean over seeds as a line, min-max over
  seeds as a band. Both accuracy panels share one y-range.
- final_accuracy_figure: final test accuracy per ablation, mean with its 95% t
  interval, every seed as a dot (diverged seeds as red crosses), and the stable
  accuracy (mean of the last evaluations) with its interval.
- sweep_figure: stable test accuracy against a sweep's value, a line per starting
  ablation, 95% t intervals, every seed as a dot, diverged seeds counted and marked.
- claims_forest_figure: each claim of one dataset at a glance: its measured difference with
  the interval its verdict rests on, against the band the claim allows, coloured by
  verdict, with the seeds and looks it used; a panel per unit.
- per_class_figure: where each ablation wins or loses against its reference: a heatmap of
  the per-class test accuracy difference (ablations x classes), mean over seeds with its
  seeds' sd written in each cell.
- xor_boundary_figure: the decision boundary of trained XOR models with their
  training points.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.ticker  # noqa: E402
import matplotlib.transforms  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .aggregate import (STABLE_ACC_PCT, TEST_ACC_PCT, over_seeds, seed_curves,  # noqa: E402
                        stat_column)
from .claims import seeds_and_looks  # noqa: E402
from .stats import CONTRADICTED, INCONCLUSIVE, NO_DATA, SUPPORTED, describe  # noqa: E402

plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "axes.grid": True,
                     "grid.alpha": 0.3, "svg.hashsalt": "mlpstudy", "svg.fonttype": "none"})
PANELS = (("train", "loss", "training loss (full training set)", "loss (log scale)"),
          ("train", "accuracy", "train accuracy", "accuracy (%)"),
          ("test", "accuracy", "test accuracy", "accuracy (%)"))
DIVERGED = "#d62728"
LINESTYLES = ("-", (0, (6, 3)), (0, (2, 2)), (0, (8, 3, 2, 3)), (0, (1, 1)))


def _curves(metrics: pd.DataFrame, ablation: str, split: str, metric: str) -> pd.DataFrame:
    """step x seed table of one ablation's evaluations (seeds that stopped early end in NaN)."""
    rows = metrics[(metrics["ablation"] == ablation) & (metrics["split"] == split)
                   & (metrics["metric"] == metric)]
    table = seed_curves(rows)
    if metric == "accuracy":
        table = table * 100
    return table.replace([np.inf, -np.inf], np.nan)


def _label(ablation: str, final: pd.DataFrame) -> str:
    runs = final[final["ablation"] == ablation]
    diverged = int((runs["status"] == "diverged").sum())
    label = f"{ablation} ({len(runs)} seed{'s' if len(runs) != 1 else ''}"
    return label + (f", {diverged} diverged)" if diverged else ")")


def _accuracy_ylim(tables: list[pd.DataFrame]) -> tuple[float, float]:
    """Zoom on the end of training: from a little below the lowest mean after the first
    fifth of the iterations, so differences of a point stay visible."""
    lows, highs = [], []
    for table in tables:
        if table.empty:
            continue
        late = table[table.index >= 0.2 * table.index.max()]
        lows.append(np.nanmin(late.min(axis=1).to_numpy()) if len(late) else np.nan)
        highs.append(np.nanmax(table.max(axis=1).to_numpy()))
    if not lows or np.all(np.isnan(lows)):
        return 0.0, 100.0
    low = max(0.0, np.nanmin(lows) - 2)
    return np.floor(low), min(100.5, np.nanmax(highs) + 1)


def group_figure(metrics: pd.DataFrame, final: pd.DataFrame, title: str,
                 ablations: list[str], dataset: str) -> plt.Figure:
    """The PANELS side by side, a line and band per ablation with its own color and dashes;
    a legend below them."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2))
    colors = plt.get_cmap("tab10").colors
    acc_tables = []
    handles = []
    for i, ablation in enumerate(ablations):
        line = None
        for ax, (split, metric, _, _) in zip(axes, PANELS):
            table = _curves(metrics, ablation, split, metric)
            if table.empty:
                continue
            if metric == "accuracy":
                acc_tables.append(table)
            line = _draw_curves(ax, table, i, colors[i % len(colors)], _label(ablation, final))
        handles.append(line)
    _style_panels(axes, *_accuracy_ylim(acc_tables))
    fig.suptitle(f"{title}: {dataset}, mean over seeds (line) and min-max over seeds (band)",
                 fontsize=13)
    _legend_below(fig, handles, [_label(a, final) for a in ablations])
    return fig


def _draw_curves(ax, table: pd.DataFrame, i: int, color, label: str):
    """The `i`th ablation's seeds (`table`, step x seed) on one panel: their mean as a line,
    their min-max as a band, a red x where a seed stopped early. Returns the line."""
    band = over_seeds(table)
    # Distinct dash patterns: ablations that train identically (l2 and weight_decay)
    # draw on top of each other, and the dashes show both lines are there.
    line, = ax.plot(table.index, band["mean"], color=color, lw=2.2 - 0.25 * (i % 4),
                    ls=LINESTYLES[i % len(LINESTYLES)], label=label)
    ax.fill_between(table.index, band["min"], band["max"], color=color, alpha=0.18, lw=0)
    # A diverged seed stops early: mark where, so a short curve is never a mystery.
    for seed in table.columns:
        last = table[seed].last_valid_index()
        if last is not None and last < table.index.max():
            ax.plot(last, table[seed][last], "x", color=DIVERGED, ms=9, mew=2)
    return line


def _style_panels(axes, low: float, high: float) -> None:
    """Titles and axis labels of the PANELS; the loss on a log axis, both accuracy panels
    from `low` to `high`."""
    for ax, (_, metric, panel_title, ylabel) in zip(axes, PANELS):
        ax.set_title(panel_title)
        ax.set_xlabel("iteration (SGD steps)")
        ax.set_ylabel(ylabel)
        if metric == "loss":
            ax.set_yscale("log")
            # Plain numbers (0.3, 1, 2) instead of powers of ten on the log axis.
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        else:
            ax.set_ylim(low, high)


def _legend_below(fig: plt.Figure, handles: list, labels: list[str]) -> None:
    """The legend of the ablations that drew a line (handle not None), five to a row, and
    the layout that leaves it room."""
    shown = [(h, lab) for h, lab in zip(handles, labels) if h is not None]
    if shown:
        # Below the panels, so the legend never covers a curve.
        fig.legend([h for h, _ in shown], [lab for _, lab in shown], loc="lower center",
                   ncol=min(len(shown), 5), frameon=False)
    rows = (len(shown) + 4) // 5
    fig.tight_layout(rect=(0, 0.06 * rows + 0.02, 1, 0.95))


def final_accuracy_figure(stats: pd.DataFrame, final: pd.DataFrame) -> plt.Figure:
    """A panel per dataset, a row per ablation (see the module's docstring)."""
    datasets = list(dict.fromkeys(stats["dataset"]))
    sizes = [int((stats["dataset"] == d).sum()) for d in datasets]
    fig, axes = plt.subplots(len(datasets), 1,
                             figsize=(10, 1.2 + 0.45 * sum(sizes) + 0.9 * len(datasets)),
                             gridspec_kw={"height_ratios": [max(s, 1.5) for s in sizes]},
                             squeeze=False)
    for ax, dataset in zip(axes[:, 0], datasets):
        rows = stats[stats["dataset"] == dataset].reset_index(drop=True)
        _final_panel(ax, rows, final, dataset)
    fig.tight_layout()
    return fig


def _final_panel(ax, rows: pd.DataFrame, final: pd.DataFrame, dataset: str) -> None:
    """One dataset's ablations (`rows` of the ablation statistics)."""
    y = np.arange(len(rows))[::-1]  # first ablation on top
    for yi, (_, row) in zip(y, rows.iterrows()):
        runs = final[(final["dataset"] == dataset) & (final["ablation"] == row["ablation"])]
        _seed_accuracies(ax, runs, yi)
        _mean_accuracies(ax, row, yi)
    ax.set_yticks(y)
    ax.set_yticklabels(rows["ablation"])
    # From a little below the lowest non-diverged seed or interval up to 100%: accuracy
    # cannot exceed it, so the axis stays there even when an interval does.
    ok = final[(final["dataset"] == dataset) & (final["status"] == "ok")]
    values = pd.concat([ok["test_accuracy"] * 100,
                        rows[stat_column(TEST_ACC_PCT, "ci_low")]]).dropna()
    low = float(values.min()) if len(values) else 0.0
    ax.set_xlim(max(0.0, low - 2), 100.5)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title(f"{dataset}: final (blue) and stable (orange) accuracy, mean and 95% CI "
                 "over seeds; each seed's final (grey dot)"
                 + (", diverged seed (red x)" if (final["status"] != "ok").any() else ""),
                 fontsize=11)


def _seed_accuracies(ax, runs: pd.DataFrame, y: float) -> None:
    """Each run's final test accuracy around `y`: a grey dot, a red x where it diverged."""
    ok = runs[runs["status"] == "ok"]
    bad = runs[runs["status"] != "ok"]
    jitter = np.linspace(-0.12, 0.12, max(len(runs), 1))
    ax.plot(ok["test_accuracy"] * 100, y + jitter[:len(ok)], "o", color="0.55", ms=4, zorder=2)
    if len(bad):
        ax.plot(bad["test_accuracy"].fillna(0) * 100, y + jitter[len(ok):], "x",
                color=DIVERGED, ms=8, mew=2, zorder=3)


def _mean_accuracies(ax, row: pd.Series, y: float) -> None:
    """The final (at `y`) and the stable (just below) test accuracy of one ablation's
    statistics `row`: mean and 95% interval."""
    for statistic, marker, color, dy in ((TEST_ACC_PCT, "D", "#1f77b4", 0.0),
                                         (STABLE_ACC_PCT, "s", "#ff7f0e", -0.28)):
        if stat_column(statistic, "mean") not in row:
            continue
        mean, lo, hi = (row[stat_column(statistic, e)] for e in ("mean", "ci_low", "ci_high"))
        if np.isfinite(mean):
            err = [[mean - lo], [hi - mean]] if np.isfinite(lo) else None
            ax.errorbar(mean, y + dy, xerr=err, fmt=marker, color=color, ms=6, capsize=4, lw=2,
                        zorder=4)


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def sweep_figure(final: pd.DataFrame, name: str, sweep: dict, dataset: str) -> plt.Figure:
    """Stable test accuracy against the sweep's first key, a line per starting ablation (and
    per combination of the other keys): mean over non-diverged seeds with its 95% t interval,
    each seed as a dot; where seeds diverged, a red x at the bottom with their count."""
    xkey, points = list(sweep["keys"])[0], list(sweep["points"])
    lines = {}
    for p in points:
        label = p["start"] + "".join(f", {k}={v}" for k, v in p["values"].items() if k != xkey)
        lines.setdefault(label, []).append(p)
    xaxis = _SweepAxis([p["values"][xkey] for p in points])
    fig, ax = plt.subplots(figsize=(9, 5.5))
    colors = plt.get_cmap("tab10").colors
    any_diverged = False
    for i, (label, members) in enumerate(lines.items()):
        # Lines side by side at each value, so their intervals do not hide each other.
        shift = (i - (len(lines) - 1) / 2) * 0.035
        xs = [xaxis.at(p["values"][xkey], shift) for p in members]
        any_diverged |= _sweep_line(ax, final, members, xs, colors[i % len(colors)], label)
    xaxis.style(ax, xkey)
    ax.set_ylabel("stable test accuracy (%)")
    title = f"Sweep {name}: {dataset}, mean and 95% CI over non-diverged seeds"
    if any_diverged:
        title += "; red x: seeds diverged (count/all)"
    ax.set_title(title, fontsize=11)
    if sweep.get("description"):
        fig.text(0.5, 0.01, sweep["description"], ha="center", fontsize=9, color="0.3")
    ax.legend(loc="best", frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


class _SweepAxis:
    """The x axis of a sweep figure: the swept values themselves where they are numbers (on
    a log scale where they span a factor of 10 or more), else one place each, in order."""

    def __init__(self, values: list):
        self.values = list(dict.fromkeys(values))
        self.numeric = _numeric(self.values)
        self.log = (self.numeric and min(self.values) > 0
                    and max(self.values) / min(self.values) >= 10)
        self.position = {x: (x if self.numeric else i) for i, x in enumerate(self.values)}

    def at(self, value, shift: float) -> float:
        """Where a point of `value` goes on a line moved sideways by `shift`: a fraction of
        a decade on a log axis, of the values' span on a linear one, else of one place."""
        x = self.position[value]
        if self.log:
            return x * 10 ** shift
        return x + shift * (1 if not self.numeric else
                            (max(self.values) - min(self.values) or 1))

    def style(self, ax, key: str) -> None:
        if self.log:
            ax.set_xscale("log")
        ax.set_xticks([self.position[x] for x in self.values])
        ax.set_xticklabels([f"{x:g}" if self.numeric else str(x) for x in self.values])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(key + (" (log scale)" if self.log else ""))


def _sweep_line(ax, final: pd.DataFrame, points: list[dict], xs: list[float], color,
                label: str) -> bool:
    """One line of a sweep figure: each point's seeds as dots and its mean with the 95% t
    interval at `xs`, joined; its diverged seeds marked. Returns whether any diverged."""
    means, lows, highs = [], [], []
    any_diverged = False
    for p, x in zip(points, xs):
        runs = final[final["ablation"] == p["ablation"]]
        values = runs.loc[runs["status"] == "ok", "stable_test_accuracy"] * 100
        est = describe(values)
        ax.plot([x] * len(values), values, "o", color=color, alpha=0.35, ms=4, zorder=2)
        means.append(est.mean)
        lows.append(est.ci_low)
        highs.append(est.ci_high)
        any_diverged |= _mark_diverged(ax, runs, x)
    means, lows, highs = map(np.asarray, (means, lows, highs))
    err = np.vstack([means - lows, highs - means])
    err = np.where(np.isfinite(err), err, 0)
    ax.errorbar(xs, means, yerr=err, fmt="-o", color=color, lw=2, ms=6, capsize=4,
                label=label, zorder=4)
    return any_diverged


def _mark_diverged(ax, runs: pd.DataFrame, x: float) -> bool:
    """A red x at the bottom of the axes at `x` with the count of diverged runs, if any."""
    diverged = int((runs["status"] != "ok").sum())
    if diverged:
        bottom = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(x, 0.04, "x", color=DIVERGED, ms=10, mew=2.5, transform=bottom, zorder=5)
        ax.text(x, 0.075, f"{diverged}/{len(runs)}", color=DIVERGED, ha="center",
                fontsize=9, transform=bottom)
    return bool(diverged)


VERDICT_COLORS = {SUPPORTED: "#2ca02c", CONTRADICTED: "#d62728", INCONCLUSIVE: "#e6a100",
                  NO_DATA: "0.55"}
BAND_COLOR = "#9ecae1"


def claims_forest_figure(claims: pd.DataFrame, dataset: str) -> plt.Figure:
    """One dataset's rows of claims.csv: a row per claim, a panel per unit (percentage
    points, steps, fractions of seeds, parameters on a symmetric log axis)."""
    if claims.empty:
        fig, ax = plt.subplots(figsize=(8, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, f"No claims are checked on {dataset} (config: claims).", ha="center",
                va="center", fontsize=12)
        return fig
    units = list(dict.fromkeys(claims["unit"]))
    sizes = [int((claims["unit"] == u).sum()) for u in units]
    fig, axes = plt.subplots(len(units), 1, squeeze=False,
                             figsize=(12, 1.3 + 0.42 * sum(sizes) + 0.8 * len(units)),
                             gridspec_kw={"height_ratios": [max(n, 1.2) for n in sizes]})
    for ax, unit in zip(axes[:, 0], units):
        _forest_panel(ax, claims[claims["unit"] == unit].reset_index(drop=True), unit)
    handles = [matplotlib.patches.Patch(color=c, label=v) for v, c in VERDICT_COLORS.items()]
    handles.append(matplotlib.patches.Patch(color=BAND_COLOR, alpha=0.5, label="the claim allows"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle(f"Claims on {dataset}: measured difference and the interval its verdict "
                 "rests on, against the band the claim allows", fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return fig


def _forest_panel(ax, rows: pd.DataFrame, unit: str) -> None:
    y = np.arange(len(rows))[::-1]  # the first claim on top
    ends = pd.concat([rows[c] for c in ("difference", "ci_low", "ci_high", "band_low",
                                         "band_high")]).replace([np.inf, -np.inf], np.nan)
    low, high = float(np.nanmin(ends)), float(np.nanmax(ends))
    # A margin around it all; where everything is one value, a span of the unit's own scale.
    pad = 0.08 * (high - low) or {"steps": 20.0, "pp": 1.0}.get(unit, 0.1 * max(abs(high), 1.0))
    low, high = low - pad, high + pad
    if unit == "parameters":  # a log axis: margins as factors
        low, high = min(low, -1.5 * abs(low)), max(high, 1.5 * abs(high))
    for yi, (_, row) in zip(y, rows.iterrows()):
        _forest_row(ax, row, yi, low, high)
    ax.set_yticks(y)
    ax.set_yticklabels([_wrap(t, 48) for t in rows["claim"]], fontsize=9)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    if unit == "parameters":
        ax.set_xscale("symlog", linthresh=1e4, linscale=0.5)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlim(low, high)
    ax.set_xlabel({"pp": "difference (percentage points)", "steps": "difference (steps)",
                   "fraction of seeds": "difference in the fraction of seeds that diverged",
                   "parameters": "parameters (difference, or count)"}.get(unit, unit))
    ax.grid(axis="y", visible=False)


def _forest_row(ax, row: pd.Series, y: float, low: float, high: float) -> None:
    """One claim: its band as a shaded span, its interval as a line (an arrow where it is
    unbounded), its measured value as a dot, the seeds and looks at the right."""
    band_low, band_high = max(row["band_low"], low), min(row["band_high"], high)
    if band_high > band_low:
        ax.fill_betweenx([y - 0.36, y + 0.36], band_low, band_high, color=BAND_COLOR, alpha=0.5,
                         lw=0, zorder=1)
    else:  # an exact value: a tick
        ax.plot([band_low, band_low], [y - 0.36, y + 0.36], color=BAND_COLOR, lw=3, zorder=1)
    color = VERDICT_COLORS.get(row["verdict"], "0.55")
    if np.isfinite(row["difference"]):
        lo, hi = row["ci_low"], row["ci_high"]
        if np.isnan(lo) or np.isnan(hi):
            lo = hi = row["difference"]
        ax.plot([max(lo, low), min(hi, high)], [y, y], color=color, lw=2.5, zorder=3)
        for end, inside, marker in ((lo, lo >= low, "<"), (hi, hi <= high, ">")):
            if not inside:  # unbounded (a run that never got there) or off the axis
                ax.plot(low if marker == "<" else high, y, marker, color=color, ms=8, zorder=3)
        ax.plot(row["difference"], y, "o", color=color, ms=7, zorder=4)
    ax.annotate(_seeds_text(row), (1.0, y), xycoords=("axes fraction", "data"),
                xytext=(6, 0), textcoords="offset points", va="center", fontsize=8.5)


def _seeds_text(row: pd.Series) -> str:
    return ", ".join(filter(None, [row["verdict"], seeds_and_looks(row)]))


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)[:3])


def per_class_figure(table: pd.DataFrame, dataset: str) -> plt.Figure:
    """mlpstudy.predictions.per_class_differences as a heatmap: a row per ablation (against
    its reference), a column per class, coloured by the mean difference (percentage points,
    symmetric around 0), each cell with its mean and the seeds' sd."""
    if table.empty:
        fig, ax = plt.subplots(figsize=(8, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, f"No ablation on {dataset} has finished seeds beside its reference.",
                ha="center", va="center", fontsize=12)
        return fig
    pairs = list(dict.fromkeys(zip(table["ablation"], table["reference"])))
    classes = sorted(table["class"].unique())
    grid = table.pivot_table(index=["ablation", "reference"], columns="class", values=[
        "difference_pp", "difference_sd"], sort=False)
    mean = grid["difference_pp"].reindex(index=pairs, columns=classes).to_numpy()
    spread = grid["difference_sd"].reindex(index=pairs, columns=classes).to_numpy()
    limit = max(float(np.nanmax(np.abs(mean))), 0.5) if np.isfinite(mean).any() else 1.0
    fig, ax = plt.subplots(figsize=(2.5 + 0.75 * len(classes), 1.6 + 0.42 * len(pairs)))
    image = ax.imshow(mean, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), value in np.ndenumerate(mean):
        if np.isfinite(value):
            sd = f"\n\u00b1{spread[i, j]:.1f}" if np.isfinite(spread[i, j]) else ""
            ax.text(j, i, f"{value:+.1f}{sd}", ha="center", va="center", fontsize=7,
                    color="white" if abs(value) > 0.6 * limit else "black")
    seeds = table.groupby(["ablation", "reference"], sort=False)["seeds"].first()
    ax.set_yticks(range(len(pairs)))
    ax.set_yticklabels([f"{a} \u2212 {r} ({seeds[a, r]} seed{'' if seeds[a, r] == 1 else 's'})"
                        for a, r in pairs], fontsize=8)
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels([str(c) for c in classes])
    ax.set_xlabel("class (test examples of that class)")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="difference in test accuracy (pp)", shrink=0.8)
    ax.set_title(f"{dataset}: per-class test accuracy at the last evaluation, ablation minus "
                 "reference\n(mean over the seeds both finished; \u00b1 the seeds' sd)")
    fig.tight_layout()
    return fig


def xor_boundary_figure(models: list[tuple[int, object]], train_x, train_y,
                        title: str) -> plt.Figure:
    """One panel per seed: P(class 1) over the plane, the 0.5 contour and the training points.

    With no model (every run diverged) the figure is the title's message and the points."""
    import torch

    if not models:
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        _xor_points(ax, np.asarray(train_x, dtype=float), np.asarray(train_y))
        ax.set_title("no trained model to draw: every run diverged", fontsize=10)
        fig.suptitle(title, fontsize=12)
        fig.tight_layout()
        return fig
    xs = np.linspace(-0.5, 1.5, 201)
    gx, gy = np.meshgrid(xs, xs)
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float32)
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models) + 1.2, 4.0), squeeze=False)
    points = np.asarray(train_x, dtype=float)
    labels = np.asarray(train_y)
    image = None
    for ax, (seed, model) in zip(axes[0], models):
        model.eval()
        with torch.no_grad():
            prob = torch.softmax(model(grid), dim=1)[:, 1].reshape(gx.shape).numpy()
        image = ax.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
        ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1.5)
        _xor_points(ax, points, labels)
        ax.set_title(f"seed {seed}")
    handles, labels = axes[0][0].get_legend_handles_labels()
    # Below the panels: inside, it would hide the boundary it explains.
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.08, 0.9, 0.93))
    if image is not None:
        cax = fig.add_axes((0.91, 0.15, 0.015, 0.7))
        fig.colorbar(image, cax=cax, label="P(class 1)")
    return fig


def _xor_points(ax, points: np.ndarray, labels: np.ndarray) -> None:
    for label, marker in ((0, "o"), (1, "s")):
        sel = labels == label
        ax.scatter(points[sel, 0], points[sel, 1], marker=marker, s=70,
                   c="#08306b" if label == 0 else "#67000d", edgecolors="white",
                   linewidths=1.5, label=f"class {label}", zorder=3)
    ax.set_xlabel("input x1")
    ax.set_ylabel("input x2")
    ax.set_aspect("equal")
    ax.grid(False)


def save(fig: plt.Figure, png: str | Path, svg: str | Path | None = None) -> None:
    for path in (png, svg):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Fixed metadata so an unchanged figure is an unchanged file.
            fig.savefig(path, dpi=110, metadata={"Software": None} if str(path).endswith(".png")
                        else {"Date": None, "Creator": None})
    plt.close(fig)
