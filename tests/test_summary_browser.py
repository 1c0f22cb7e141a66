"""The HTML summary opened in a real headless Chromium: it loads cleanly, every image
decodes, the claims table has one row per claim, and hostile text stays inert."""
from pathlib import Path

import pandas as pd
import pytest

from chromium import Browser, find_chromium
from mlpstudy.aggregate import load_runs, ablation_stats
from mlpstudy.claims import claims_table
from mlpstudy.config import claim_defaults
from mlpstudy.figures import claims_forest_figure, final_accuracy_figure, group_figure, save
from mlpstudy.sequential import TESTING
from mlpstudy.stats import VERDICT_RULES
from mlpstudy.summary import render
from synthetic_runs import write_study

pytestmark = pytest.mark.browser

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (tests/setup/system-packages.sh installs "
    "Debian's chromium package where it runs as root)")
HOSTILE = ('<script>window.__pwned = true; document.title = "pwned"</script>'
           '<img src="https://example.invalid/x.png" onerror="window.__pwned = true">')

CHECK_PAGE = """(async () => {
  const images = [...document.images];
  const decoded = await Promise.all(images.map(i => i.decode().then(() => true, () => false)));
  return {
    images: images.map((img, k) => ({alt: img.alt, width: img.naturalWidth, decoded: decoded[k]})),
    claimRows: document.querySelectorAll('#claims tbody tr').length,
    claimHeads: [...document.querySelectorAll('#claims thead th')].map(h => h.textContent),
    detailRows: document.querySelectorAll('#claims-detail tbody tr').length,
    scripts: document.querySelectorAll('script').length,
    pwned: window.__pwned === true,
    title: document.title,
    text: document.body.innerText,
    headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
  };
})()"""


def check_page(html: Path, screenshot: Path | None = None) -> tuple[dict, list, list]:
    with Browser(CHROMIUM) as browser:
        page = browser.open(html)
        result = page.evaluate(CHECK_PAGE)
        if screenshot:
            page.screenshot(screenshot)
        return result, page.problems(), page.requests()


DATASETS = ("tiny", "tiny2")


def build_summary(tmp_path: Path) -> tuple[Path, int]:
    """A two-dataset summary: claims side by side, each dataset's figures."""
    loaded = [load_runs(write_study(tmp_path / d, dataset=d)) for d in DATASETS]
    metrics = pd.concat([m for m, _ in loaded], ignore_index=True)
    final = pd.concat([f for _, f in loaded], ignore_index=True)
    descriptions = {"base": "baseline & friends", "maxout": HOSTILE, "kl_div": "KL"}
    summary = pd.concat([ablation_stats(f, descriptions) for _, f in loaded], ignore_index=True)
    claims = claims_table([{**claim_defaults(), "datasets": list(DATASETS), **c} for c in [
        {"text": "Maxout gains about 2 points <b>really</b>", "ablation": "maxout",
         "reference": "base", "metric": "test_accuracy", "expect": "about", "size": 2,
         "tolerance": 1},
        {"text": "The base MLP has 199,434 parameters", "ablation": "base", "reference": None,
         "metric": "param_count", "expect": "about", "size": 199434, "tolerance": 0},
        {"text": "KLDiv reaches 50% later", "ablation": "kl_div", "reference": "base",
         "metric": "steps_to_accuracy", "threshold": 50, "expect": "greater"},
        {"text": "ablation without runs", "ablation": "hidden_12", "reference": "base",
         "metric": "test_accuracy", "expect": "greater", "size": 0, "tolerance": 0},
    ]], final, metrics)
    figures = []
    for dataset, (m, f) in zip(DATASETS, loaded):
        out = tmp_path / "figures" / dataset
        save(group_figure(m, f, "activation", ["base", "maxout"], dataset),
             out / "curves.png", out / "curves.svg")
        save(final_accuracy_figure(ablation_stats(f, descriptions), f), out / "final.png")
        save(claims_forest_figure(claims[claims["dataset"] == dataset].fillna({"reference": ""}),
                                  dataset), out / "forest.png")
        figures += [(dataset, "The claims at a glance", "forest", out / "forest.png"),
                    (dataset, "Curves <activation>", HOSTILE, out / "curves.png"),
                    (dataset, "Final accuracy", "caption", out / "final.png")]
    ablations = pd.DataFrame([{"ablation": a, "dataset": ", ".join(DATASETS), "description": d,
                               "changes": "none"} for a, d in descriptions.items()])
    html = render({
        "title": "MLP study <test>", "datasets": list(DATASETS), "seeds": [0, 1, 2, 3],
        "config_hash": "abc123", "protocol": {"lr": 0.1, "hidden": [32]},
        "dataset_protocols": {"tiny": {}, "tiny2": {"epochs": 3, "max_steps": 50}},
        "ablations": ablations, "claims": claims, "ablation_stats": summary, "final": final,
        "figures": figures,
        "provenance": {"git commit": "not a git checkout"},
        "checksums": pd.DataFrame([{"dataset": d, "sha256": "ab" * 32} for d in DATASETS]),
        "verdict_rules": VERDICT_RULES, "testing": TESTING})
    out = tmp_path / "summary.html"
    out.write_text(html, encoding="utf-8")
    return out, 4


def test_summary_is_one_file_with_no_external_references(tmp_path):
    html, _ = build_summary(tmp_path)
    text = html.read_text()
    assert "<script" not in text and "&lt;script&gt;" in text
    assert 'src="data:image/png;base64,' in text
    # Which protocol each dataset ran, and the steps and evaluations its runs made.
    assert "<li><b>tiny</b>: the protocol; its runs trained " in text
    assert "<li><b>tiny2</b>: the protocol with <code>epochs=3, max_steps=50</code>; its runs " \
           "trained " in text
    assert "https://example.invalid" not in text.replace("https://example.invalid/x.png&quot;", "")


@needs_chromium
def test_summary_in_headless_chromium(tmp_path):
    html, n_claims = build_summary(tmp_path)
    result, problems, requests = check_page(html)
    assert problems == []
    assert len(result["images"]) == 6
    assert all(img["decoded"] and img["width"] > 0 for img in result["images"]), result["images"]
    # One row per claim, its verdict on each dataset side by side; details per dataset below.
    assert result["claimRows"] == n_claims and result["detailRows"] == 2 * n_claims
    assert [h.split(":")[0] for h in result["claimHeads"][3:]] == list(DATASETS)
    assert {img["alt"] for img in result["images"]} >= {"Final accuracy (tiny)",
                                                         "Final accuracy (tiny2)"}
    # The hostile description is shown as text, and nothing of it ran or loaded.
    assert result["scripts"] == 0 and not result["pwned"] and result["title"] == "MLP study <test>"
    assert "<script>window.__pwned = true;" in result["text"]
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert "Figures: tiny2" in result["text"]
    for section in ("What was run", "Claims of the report: verdicts", "Per ablation", "Figures",
                    "Per job: runtime, memory and efficiency", "Provenance"):
        assert section in result["headings"]
    assert "no data" in result["text"] and "contradicted" in result["text"]
    # The efficiency from the runs' own records (synthetic: 2e10 against probes of 4e10).
    assert "20.0 GFLOP/s per job, 50% of what their jobs' own matmul probes reached" in \
        result["text"]
    # How the claims were tested together, and with how many seeds each verdict was reached.
    assert "Testing the claims together. A dataset's claims are tested as one family" in \
        result["text"]
    assert "Holm over this dataset's 2 tested claims, error rate 0.05, 1 planned look" in \
        result["text"]
    # the seeds each verdict rests on, and for an open claim what would decide it
    assert "3 seeds" in result["text"] and "seeds would decide it" in result["text"]
