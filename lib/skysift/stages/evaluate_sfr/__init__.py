"""`skysift evaluate-sfr`: the SFR comparison report: MSE / RMSE / MAE / R2 per model, resolution and quality level, mean +- std over seeds, with and without QSOs, plots, HTML."""
