"""The study's summary as one self-contained HTML file.

Figures are embedded as base64 PNG data URIs and the page has no scripts and no
external references, so it opens anywhere, offline. Every string that comes from
the config or the data goes through `esc` (html.escape), so a description that
contains markup is shown as text, never interpreted.
"""
from __future__ import annotations

import base64
import html
import math
import numbers
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd

from .aggregate import GAP_PCT, STABLE_ACC_PCT, STABLE_LAST_K, TEST_ACC_PCT, stat_column
from .claims import seeds_and_looks
from .cost import efficiency
from .stats import NO_DATA

# The verdicts' colours, on the summary page and on the report's landing page.
VERDICT_CSS = """
.supported{background:#d9f2d9}.contradicted{background:#f8d4d4}.inconclusive{background:#fff1c2}
.nodata{background:#e4e4e4}
"""
CSS = VERDICT_CSS + """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1300px;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;vertical-align:top;white-space:nowrap}
td.text{white-space:normal;min-width:9em}
.scroll{overflow-x:auto}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.diverged{color:#b00;font-weight:bold}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.92em;color:#444;max-width:60em}code{background:#f5f5f5;padding:0 .2em}
.note{color:#555;font-size:.92em;max-width:60em}
"""


def git_commit(directory: str | Path) -> str:
    """HEAD of the checkout holding `directory` (marked when files differ), or why there is none."""
    def git(*args):
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True,
                              text=True, timeout=20)
    try:
        head = git("rev-parse", "HEAD")
    except (OSError, subprocess.TimeoutExpired):
        return "not a git checkout (git not available)"
    if head.returncode != 0:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def versions(final: pd.DataFrame) -> dict:
    """Versions the runs recorded (several values if runs differ) and the report's own."""
    out = {}
    for column, name in (("python_version", "Python (training jobs)"),
                         ("torch_version", "torch (training jobs)"),
                         ("torchvision_version", "torchvision (training jobs)"),
                         ("device_name", "device (training jobs)")):
        if column in final:
            out[name] = ", ".join(sorted(set(final[column].dropna().astype(str)))) or "unknown"
    for package in ("snakemake", "pandas", "matplotlib"):
        try:
            out[f"{package} (report)"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[f"{package} (report)"] = "not installed"
    return out


TEXT_COLUMNS = ("description", "changes", "claim")  # long text: may wrap; other cells do not


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):.{digits}f}" if math.isfinite(value) else "–"
    return str(value)


def _head(headers) -> str:
    return "".join(f"<th>{esc(h)}</th>" for h in headers)


def _scroll_table(head: str, rows: list[str], table_id: str = "") -> str:
    """A table that scrolls sideways when wider than the page (`head`: the header cells,
    `rows`: each row, as HTML)."""
    attr = f' id="{table_id}"' if table_id else ""
    return (f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def table(frame: pd.DataFrame, columns: dict, row_class=None, num=()) -> str:
    """An HTML table of `frame`'s `columns` (name -> header), every cell escaped."""
    body = []
    for _, row in frame.iterrows():
        cls = f' class="{esc(row_class(row))}"' if row_class else ""
        cells = "".join(
            f'<td class="{"num" if c in num else "text" if c in TEXT_COLUMNS else ""}">'
            f"{esc(fmt(row[c]))}</td>" for c in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return _scroll_table(_head(columns.values()), body)


def image(path: str | Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def _measured(c, digits) -> str:
    if pd.isna(c["difference"]):
        return "–"
    value = f"{c['difference']:,.{digits}f}"
    return f"{value} {c['unit']}" if c["unit"] != "fraction of seeds" else value


def _how(c) -> str:
    if c["verdict"] == NO_DATA:
        return c["note"]
    if c["metric"] == "param_count":
        return "exact count"
    parts = [c["method"], f"uncertain: {c['uncertainty']}" if c.get("uncertainty") else "",
             c["note"]]
    return "; ".join(p for p in parts if p)


def _digits(c) -> int:
    return 0 if c["unit"] in ("parameters", "steps") else 2


def _compared(c) -> str:
    return f"{c['ablation']} vs {c['reference']}" if c["reference"] else c["ablation"]


def _interval(c) -> str:
    if c["metric"] == "param_count":
        return "exact"
    return _ci(c["ci_low"], c["ci_high"], _digits(c))


def _verdict_class(c) -> str:
    return esc(c["verdict"].replace(" ", ""))


def _with_dataset(claims: pd.DataFrame) -> pd.DataFrame:
    """`claims` with a text `dataset` column ("" where a claim has none)."""
    claims = claims.copy()
    if "dataset" not in claims:
        claims["dataset"] = ""
    claims["dataset"] = claims["dataset"].fillna("").astype(str)
    return claims


def claims_section(claims: pd.DataFrame) -> str:
    """Two tables: each claim once with its verdict on every dataset side by side (#claims),
    then one row per claim and dataset with the method and notes (#claims-detail)."""
    claims = _with_dataset(claims)
    detail_head = _head(("dataset", "claim", "verdict", "compared", "the claim allows",
                         "measured", "interval", "seeds", "error rate tested at each look; "
                         "evidence", "how / notes"))
    return (_claims_grid(claims)
            + '<h3 id="claims-details">Each claim on each dataset: method and notes</h3>'
            + _scroll_table(detail_head, [_detail_row(c) for _, c in claims.iterrows()],
                            "claims-detail"))


def _claims_grid(claims: pd.DataFrame) -> str:
    """Each claim once, with its verdict on every dataset side by side (#claims)."""
    datasets = list(dict.fromkeys(claims["dataset"]))
    key = ["claim", "ablation", "reference", "metric"]
    rows = [_claim_row(group, datasets) for _, group in claims.groupby(key, sort=False)]
    head = _head(("claim", "compared", "the claim allows",
                  *[f"{d or 'all runs'}: verdict, measured, interval, seeds" for d in datasets]))
    return _scroll_table(head, rows, "claims")


def verdicts_fragment(claims: pd.DataFrame, forests: dict) -> str:
    """The verdicts as an HTML fragment for the landing page of Snakemake's report
    (workflow/report/workflow.rst): the counts, each claim with its verdict per dataset, then
    the forest plot of each dataset (`forests`: dataset -> PNG), embedded: the report's own
    image directive leaves a path that does not resolve inside report.zip."""
    claims = _with_dataset(claims)
    parts = [f"<style>{VERDICT_CSS}</style>",
             f"<p><b>Verdicts:</b> {esc(_verdict_counts(claims))}.</p>",
             _claims_grid(claims) if len(claims) else ""]
    parts += [f"<figure>{image(png, f'The claims at a glance: {dataset}')}<figcaption>The "
              f"claims at a glance: {esc(dataset)}.</figcaption></figure>"
              for dataset, png in forests.items()]
    return "\n".join(parts) + "\n"


def _claim_row(group: pd.DataFrame, datasets: list[str]) -> str:
    """One claim (its rows, one per dataset checked): what it allows, then a verdict cell
    per dataset."""
    first = group.iloc[0]
    # The band may differ by dataset (steps_to_accuracy with a threshold per dataset).
    expected = dict(zip(group["dataset"], group["expected"]))
    allows = (first["expected"] if len(set(expected.values())) == 1
              else "; ".join(f"{d}: {e}" for d, e in expected.items()))
    by_dataset = {r["dataset"]: r for _, r in group.iterrows()}
    cells = [f'<td class="text">{esc(first["claim"])}</td>', f"<td>{esc(_compared(first))}</td>",
             f'<td class="text">{esc(allows)}</td>',
             *[_verdict_cell(by_dataset.get(dataset)) for dataset in datasets]]
    return "<tr>" + "".join(cells) + "</tr>"


def _verdict_cell(c) -> str:
    """Verdict, measured value, interval and seeds of one claim on one dataset; how, as its
    title."""
    if c is None:
        return '<td class="nodata">not checked</td>'
    return (f'<td class="{_verdict_class(c)}" title="{esc(_how(c))}"><b>{esc(c["verdict"])}</b>'
            f"<br>{esc(_measured(c, _digits(c)))}<br>{esc(_interval(c))}"
            f"<br>{esc(seeds_and_looks(c))}</td>")


def _levels(c) -> str:
    """The error rate each look tested the claim at, the level of the interval shown, and its
    evidence against its Holm threshold (with the Holm-adjusted p: decided when <= 0.05)."""
    if not isinstance(c.get("look_levels"), str) or not c["look_levels"]:
        return "exact" if c["metric"] == "param_count" else "–"
    return (f"{c['look_levels'].replace(' ', ', ')} (interval at {100 * c['ci_level']:.2f}%); "
            f"evidence p = {c['p_value']:.2g} against {c['threshold']:.2g}, "
            f"Holm-adjusted p = {c['p_adjusted']:.2g}")


def _detail_row(c) -> str:
    cells = [c["dataset"], c["claim"], c["verdict"], _compared(c), c["expected"],
             _measured(c, _digits(c)), _interval(c), seeds_and_looks(c), _levels(c), _how(c)]
    return f'<tr class="{_verdict_class(c)}">' + "".join(
        f'<td class="{"text" if i in (1, 4, 8, 9) else ""}">{esc(x)}</td>'
        for i, x in enumerate(cells)) + "</tr>"


def _ci(low, high, digits=2) -> str:
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        return "–"

    def show(v):
        return "+inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:.{digits}f}"
    return f"[{show(low)}, {show(high)}]"


def render(ctx: dict) -> str:
    """The page. `ctx` keys: title, datasets, seeds, adaptive, config_hash, protocol,
    dataset_protocols ({dataset: the protocol keys it sets itself}), ablations
    (DataFrame: ablation, dataset, description, changes), claims, ablation_stats, final
    (DataFrames), figures ([(dataset, title, caption, png path)]; (title, caption, png)
    for a figure of no one dataset), provenance ({name: value}),
    checksums (DataFrame: dataset, sha256), verdict_rules (text), testing (how the claims
    were tested together: the fixed study's or adaptive seeding's rule, in words)."""
    parts = [*_page_head(ctx["title"]),
             *_what_was_run(ctx),
             *_claim_verdicts(ctx["claims"], ctx["verdict_rules"], ctx["testing"]),
             *_per_ablation(ctx["ablation_stats"]),
             *_figures(ctx["figures"]),
             *_per_job(ctx["final"]),
             *_provenance(ctx["provenance"], ctx["checksums"]),
             "</body></html>"]
    return "\n".join(parts) + "\n"


def _page_head(title: str) -> list[str]:
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # No external loads and no scripts at all, whatever the data says.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">",
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]


def _what_was_run(ctx: dict) -> list[str]:
    final = ctx["final"]
    protocol = ", ".join(f"{k}={v}" for k, v in ctx["protocol"].items())
    n_div = int((final["status"] != "ok").sum())
    return [
        '<h2 id="run">What was run</h2>',
        f"<p>{len(final)} training runs: {final['ablation'].nunique()} ablations x seeds "
        f"<code>{esc(' '.join(map(str, ctx['seeds'])))}</code>"
        f"{esc(_rounds(ctx.get('adaptive')))} on "
        f"<b>{esc(', '.join(ctx['datasets']))}</b>; "
        f"config hash <code>{esc(ctx['config_hash'])}</code>. "
        + (f'<span class="diverged">{n_div} run(s) diverged</span> (kept in the tables, '
           "left out of means and intervals)." if n_div else "No run diverged.") + "</p>",
        f"<p>Protocol (every ablation starts from it): <code>{esc(protocol)}</code></p>",
        *_dataset_protocols(ctx["dataset_protocols"], final),
        table(ctx["ablations"], {"ablation": "ablation", "dataset": "dataset",
                                 "description": "description",
                                 "changes": "changes to the protocol"}),
    ]


def _dataset_protocols(protocols: dict, final: pd.DataFrame) -> list[str]:
    """A line per dataset: the protocol keys it sets itself, and the steps and evaluations
    its runs actually made (read from the runs: what the step-count claims were counted on)."""
    lines = []
    for dataset, own in protocols.items():
        keys = ", ".join(f"{k}={v}" for k, v in own.items())
        ran = final[(final["dataset"] == dataset) & (final["status"] == "ok")]
        made = (f"its runs trained {_span(ran['steps'])} steps with {_span(ran['evaluations'])} "
                "evaluations after step 0" if len(ran) else "no run of it finished")
        lines.append(f"<li><b>{esc(dataset)}</b>: "
                     + (f"the protocol with <code>{esc(keys)}</code>" if keys else "the protocol")
                     + f"; {esc(made)}</li>")
    return ["<p>Protocol per dataset (<code>dataset_protocol</code>; an ablation's own keys "
            "still win):</p>", "<ul>", *lines, "</ul>"]


def _span(values: pd.Series) -> str:
    """3 or 3-7: the smallest and largest of whole numbers."""
    low, high = int(values.min()), int(values.max())
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def _rounds(adaptive: dict | None) -> str:
    if not adaptive:
        return ""
    return (f", then {adaptive['step']} more a round for the ablations of claims still open, "
            f"up to {adaptive['max']} (the per-ablation table counts each one's seeds)")


def _verdict_counts(claims: pd.DataFrame) -> str:
    """How many claims got each verdict, per dataset where there are several."""
    if len(claims) and "dataset" in claims and claims["dataset"].nunique() > 1:
        return "; ".join(
            f"{d}: " + ", ".join(f"{n} {v}" for v, n in g["verdict"].value_counts().items())
            for d, g in claims.groupby("dataset", sort=False))
    counts = claims["verdict"].value_counts().to_dict() if len(claims) else {}
    return ", ".join(f"{n} {v}" for v, n in counts.items()) or "no claims configured"


def _claim_verdicts(claims: pd.DataFrame, verdict_rules: str, testing: str) -> list[str]:
    return [
        '<h2 id="claims-verdicts">Claims of the report: verdicts</h2>',
        f"<p>{esc(_verdict_counts(claims))}.</p>",
        f'<p class="note">{esc(verdict_rules)}</p>',
        f'<p class="note" id="claims-family"><b>Testing the claims together.</b> '
        f"{esc(testing)} {esc(_families(claims))}</p>",
        claims_section(claims),
        '<p class="note">Their forest plot, per dataset, is the first figure under '
        '<a href="#figures">Figures</a>.</p>',
    ]


def _families(claims: pd.DataFrame) -> str:
    """The family each dataset's claims were tested in (claims.csv's `family` column)."""
    if "family" not in claims or not len(claims):
        return ""
    tested = claims[~claims["family"].astype(str).str.startswith("not tested")]
    families = dict(zip(tested["dataset"], tested["family"]))
    return " ".join(f"{d or 'all runs'}: {f}." for d, f in families.items())


def _estimates(statistic: str, headers: dict) -> dict:
    """{ablation_stats column: header} of a statistic's estimates, from {estimate: header}."""
    return {stat_column(statistic, estimate): header for estimate, header in headers.items()}


def _per_ablation(stats: pd.DataFrame) -> list[str]:
    spread = {"std": "std", "ci_low": "CI low", "ci_high": "CI high"}
    test = _estimates(TEST_ACC_PCT, {"mean": "test acc (%)", **spread})
    stable = (_estimates(STABLE_ACC_PCT, {"mean": "stable acc (%)", **spread})
              if stat_column(STABLE_ACC_PCT, "mean") in stats else {})
    gap = _estimates(GAP_PCT, {"mean": "gap (pp)", "ci_low": "gap CI low",
                               "ci_high": "gap CI high"})
    return [
        '<h2 id="ablations">Per ablation</h2>',
        '<p class="note">Final test accuracy, stable test accuracy (mean of the last '
        f"{STABLE_LAST_K} evaluations of each run) and generalisation gap (train minus test accuracy) in percent: "
        "mean, standard deviation over seeds and 95% t interval over the non-diverged seeds.</p>",
        table(stats, {"dataset": "dataset", "ablation": "ablation", "description": "description",
                      "n_ok": "seeds ok", "n_diverged": "diverged", "param_count": "parameters",
                      **test, **stable, **gap},
              row_class=lambda r: "diverged" if r["n_diverged"] else "",
              num=("n_ok", "n_diverged", "param_count", *test, *stable, *gap)),
    ]


def _figures(figures: list[tuple]) -> list[str]:
    """Each dataset's figures under its own heading, in the order they come."""
    parts = ['<h2 id="figures">Figures</h2>']
    # (dataset, title, caption, png); a figure without a dataset goes under "all datasets".
    figures = [f if len(f) == 4 else ("", *f) for f in figures]
    for dataset in dict.fromkeys(f[0] for f in figures):
        parts.append(f'<h3 id="figures-{esc(dataset or "all")}">Figures: '
                     f"{esc(dataset or 'all datasets')}</h3>")
        for _, title, caption, png in (f for f in figures if f[0] == dataset):
            alt = f"{title} ({dataset})" if dataset else title
            parts.append(f"<figure>{image(png, alt)}<figcaption><b>{esc(alt)}.</b> "
                         f"{esc(caption)}</figcaption></figure>")
    return parts


def _per_job(final: pd.DataFrame) -> list[str]:
    jobs = final.assign(test_acc_pct=final["test_accuracy"] * 100)
    for column in ("flop_rate", "probe_flop_rate"):
        jobs[column] = (pd.to_numeric(jobs[column], errors="coerce") / 1e9 if column in jobs
                        else float("nan"))
    return [
        '<h2 id="jobs">Per job: runtime, memory and efficiency</h2>',
        f"<p>{esc(_efficiency_text(final))}</p>",
        '<p class="note">wall time measured inside the job (run.json); benchmark seconds and '
        "peak resident memory (max RSS) from Snakemake's benchmark files; GFLOP/s: the "
        "matmul FLOPs of the run over its training time (its pack's when batched), beside "
        "the job's own short matmul probe after training.</p>",
        table(jobs, {"dataset": "dataset", "ablation": "ablation", "seed": "seed",
                     "status": "status", "test_acc_pct": "test acc (%)",
                     "wall_time_s": "wall time (s)", "bench_s": "benchmark (s)",
                     "max_rss_mb": "peak memory (MB)", "flop_rate": "GFLOP/s",
                     "probe_flop_rate": "probe GFLOP/s", "device": "device",
                     "threads": "threads"},
              row_class=lambda r: "diverged" if r["status"] != "ok" else "",
              num=("seed", "test_acc_pct", "wall_time_s", "bench_s", "max_rss_mb",
                   "flop_rate", "probe_flop_rate", "threads")),
    ]


def _efficiency_text(final: pd.DataFrame) -> str:
    """The study's efficiency from its jobs' own records (cost.efficiency)."""
    eff = efficiency(final)
    if eff is None:
        return "No run recorded its FLOP rate (runs from before it was recorded)."
    return (f"Efficiency: the runs computed {eff['flop'] / 1e12:.2f} TFLOP of matmuls in "
            f"{eff['seconds']:.0f} s of training, {eff['achieved'] / 1e9:.1f} GFLOP/s per "
            f"job, {100 * eff['ratio']:.0f}% of what their jobs' own matmul probes reached "
            f"({eff['probe'] / 1e9:.1f} GFLOP/s); the rest is evaluation and training "
            "arithmetic that is not a large matmul (activations, loss, optimizer), and "
            "small matmuls.")


def _provenance(provenance: dict, checksums: pd.DataFrame) -> list[str]:
    return [
        '<h2 id="provenance">Provenance</h2>',
        "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>"
                            for k, v in provenance.items()) + "</table>",
        "<p>Dataset checksums (sha256 of the prepared tensor file each job read):</p>",
        table(checksums, {"dataset": "dataset", "sha256": "sha256"}),
    ]
