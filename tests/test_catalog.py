"""The tiny offline study under .test/ through the command the README and the workflow
catalog give (`snakemake --cores 2 --directory .test`), and the report to send built from it
(`--report report.zip`), whose landing page leads with the verdicts and the forest plot."""
import json
import re
import shutil
import zipfile

import pandas as pd
import pytest
import yaml

from conftest import REPO, copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def test_study(tmp_path_factory):
    """A private copy of the workflow with the repository's .test/config, run to the end."""
    workdir = copy_workflow(tmp_path_factory.mktemp("catalog"))
    shutil.copytree(REPO / ".test" / "config", workdir / ".test" / "config")
    run_snakemake(workdir, "--directory", ".test")
    return workdir


def test_the_test_config_runs_a_whole_study(test_study):
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    results = test_study / ".test" / "results"
    final = pd.read_csv(results / "final.csv")
    assert len(final) == len(config["ablations"]) * len(config["seeds"])
    assert set(final["status"]) == {"ok"} and set(final["dataset"]) == {"mnist-5k"}
    claims = pd.read_csv(results / "claims.csv")
    assert len(claims) == len(config["claims"])
    # Parameter counts are exact: this verdict cannot depend on the machine.
    fewer = claims.set_index("claim").loc["16 hidden units have fewer parameters than 64"]
    assert fewer["verdict"] == "supported"
    assert (results / "summary.html").stat().st_size > 10_000
    assert not (test_study / "results").exists()  # everything stays under .test/


def test_report_zip_leads_with_the_verdicts(test_study):
    # The README's command: the default profile names the landing page's metadata.
    run_snakemake(test_study, "--directory", ".test", "--report", "report.zip")
    with zipfile.ZipFile(test_study / ".test" / "report.zip") as archive:
        page = next(n for n in archive.namelist() if n.endswith("/report.html"))
        html = archive.read(page).decode()
        names = archive.namelist()
    description = json.loads(re.search(r"var workflow_desc = (.*);\n", html).group(1))
    metadata = json.loads(re.search(r"var metadata = (.*);\n", html).group(1))
    # The landing page: the description with the verdict table and the embedded forest plot,
    # then the counts; no docutils error in the rendered description.
    assert "Verdicts:" in description and '<table id="claims">' in description
    assert "16 hidden units have fewer parameters than 64" in description
    assert description.count("data:image/png;base64,") == 1  # one study dataset
    assert "system-message" not in description
    assert metadata["training runs"] == 9 and metadata["claims supported"] >= 1
    # The summary page travels inside the report.
    assert any(n.endswith("summary.html") for n in names)
