"""`skysift train-sfr`: train the SFR fusions and baselines (Rustamov 2025) on a `multimodal` table, log to MLflow, register the best as skysift-sfr@champion."""
