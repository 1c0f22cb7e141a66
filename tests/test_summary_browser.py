"""The HTML summary opened in a real headless Chromium: it loads cleanly, every image
decodes, the claims table has one row per claim, and hostile text stays inert."""
from pathlib import Path

import pandas as pd
import pytest

from chromium import Browser, find_chromium
from mlpstudy.aggregate import load_runs, summarise
from mlpstudy.claims import check_claims
from mlpstudy.figures import final_accuracy_figure, group_figure, save
from mlpstudy.summary import VERDICT_RULES, render
from synthetic_runs import write_study

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


def build_summary(tmp_path: Path) -> tuple[Path, int]:
    metrics, final = load_runs(write_study(tmp_path))
    descriptions = {"base": "baseline & friends", "maxout": HOSTILE, "kl_div": "KL"}
    summary = summarise(final, descriptions)
    claims = check_claims([
        {"text": "Maxout gains about 2 points <b>really</b>", "ablation": "maxout",
         "reference": "base", "metric": "test_accuracy", "expect": "about", "size": 2,
         "tolerance": 1},
        {"text": "The base MLP has 199,434 parameters", "ablation": "base", "reference": None,
         "metric": "param_count", "expect": "about", "size": 199434, "tolerance": 0},
        {"text": "ablation without runs", "ablation": "hidden_12", "reference": "base",
         "metric": "test_accuracy", "expect": "greater", "size": 0, "tolerance": 0},
    ], final)
    figures = tmp_path / "figures"
    save(group_figure(metrics, final, "activation", ["base", "maxout"], "tiny"),
         figures / "curves.png", figures / "curves.svg")
    save(final_accuracy_figure(summary, final), figures / "final.png")
    ablations = pd.DataFrame([{"ablation": a, "dataset": "tiny", "description": d, "changes": "none"}
                              for a, d in descriptions.items()])
    html = render({
        "title": "MLP study <test>", "datasets": ["tiny"], "seeds": [0, 1, 2, 3],
        "config_hash": "abc123", "protocol": {"lr": 0.1, "hidden": [32]},
        "ablations": ablations, "claims": claims, "summary": summary, "final": final,
        "figures": [("Curves <activation>", HOSTILE, figures / "curves.png"),
                    ("Final accuracy", "caption", figures / "final.png")],
        "provenance": {"git commit": "not a git checkout"},
        "checksums": pd.DataFrame([{"dataset": "tiny", "sha256": "ab" * 32}]),
        "verdict_rules": VERDICT_RULES})
    out = tmp_path / "summary.html"
    out.write_text(html, encoding="utf-8")
    return out, len(claims)


def test_summary_is_one_file_with_no_external_references(tmp_path):
    html, _ = build_summary(tmp_path)
    text = html.read_text()
    assert "<script" not in text and "&lt;script&gt;" in text
    assert 'src="data:image/png;base64,' in text
    assert "https://example.invalid" not in text.replace("https://example.invalid/x.png&quot;", "")


@needs_chromium
def test_summary_in_headless_chromium(tmp_path):
    html, n_claims = build_summary(tmp_path)
    result, problems, requests = check_page(html)
    assert problems == []
    assert len(result["images"]) == 2
    assert all(img["decoded"] and img["width"] > 0 for img in result["images"]), result["images"]
    assert result["claimRows"] == n_claims
    # The hostile description is shown as text, and nothing of it ran or loaded.
    assert result["scripts"] == 0 and not result["pwned"] and result["title"] == "MLP study <test>"
    assert "<script>window.__pwned = true;" in result["text"]
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    for section in ("What was run", "Claims of the report: verdicts", "Per ablation", "Figures",
                    "Per job: runtime and memory", "Provenance"):
        assert section in result["headings"]
    assert "no data" in result["text"] and "contradicted" in result["text"]
