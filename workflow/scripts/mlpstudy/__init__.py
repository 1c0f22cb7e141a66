"""mlpstudy: the importable, tested code of the MLP ablation study (README.md, Layout)."""
