"""spark-submit entry point for `skysift dedupe` (see lib/skysift/stages/dedupe/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("dedupe")
