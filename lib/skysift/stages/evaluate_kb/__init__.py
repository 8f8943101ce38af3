"""`skysift evaluate-kb`: P/R/F1 per task, baselines, Top-K and KB-size sweeps, retrieval time fit -> HTML report; experiment=paper: Tang et al. 2025's LINER / lens / outlier searches."""
