"""spark-submit entry point for `skysift evaluate-sfr` (see lib/skysift/stages/evaluate_sfr/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("evaluate-sfr")
