"""spark-submit entry point for `skysift train-sfr` (see lib/skysift/stages/train_sfr/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("train-sfr")
