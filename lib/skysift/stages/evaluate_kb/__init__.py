"""`skysift evaluate-kb`: P/R/F1 per task, baselines, Top-K and KB-size sweeps, retrieval time fit -> HTML report."""
