"""spark-submit entry point for `skysift crossmatch` (see lib/skysift/stages/crossmatch/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("crossmatch")
