"""`skysift train-classifier`: Conv4Net (Zhao et al. 2025) on labelled 48 x 48 crops of synthetic frames, logged to MLflow and registered as skysift-classifier@champion."""
