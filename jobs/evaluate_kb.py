"""spark-submit entry point for `skysift evaluate-kb` (see lib/skysift/stages/evaluate_kb/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("evaluate-kb")
