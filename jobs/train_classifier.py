"""spark-submit entry point for `skysift train-classifier` (see lib/skysift/stages/train_classifier/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("train-classifier")
