"""spark-submit entry point for `skysift train-detector` (see lib/skysift/stages/train_detector/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("train-detector")
