"""spark-submit entry point for `skysift evaluate-pq` (see lib/skysift/stages/evaluate_pq/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("evaluate-pq")
