"""spark-submit entry point for `skysift detect-sources` (see lib/skysift/stages/detect_sources/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("detect-sources")
