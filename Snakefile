# MLP ablation study: one training job per (dataset, ablation, pack of seeds).
# This file is the table of contents; the rules live in workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# The landing page of `snakemake --report report.zip`: the verdicts and the forest plot.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/rounds.smk"
include: "workflow/rules/report_common.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/tensorboard.smk"


# On a cluster these run on the submit host: each takes seconds (a queue wait
# would dwarf it), and the submit host is the one with internet for downloads.
localrules:
    all,
    prepare_dataset,
    plan_round,
    aggregate,
    combine,
    claims,
    claims_forest,
    figures,
    per_class,
    xor_boundary,
    summary,
    seed_group,
    tensorboard_layout,


# The summary page needs every table, figure and run; the tables are asked for too, and
# TensorBoard's seed groups (mlpstudy.seed_groups) unless the live curves are off.
rule all:
    default_target: True
    input:
        rules.combine.output,
        rules.summary.output,
        tensorboard_runs(),
