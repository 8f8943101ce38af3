"""spark-submit entry point for `skysift predict-sfr` (see lib/skysift/stages/predict_sfr/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("predict-sfr")
