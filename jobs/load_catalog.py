"""spark-submit entry point for `skysift load-catalog` (see lib/skysift/catalog/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("load-catalog")
