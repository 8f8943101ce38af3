"""spark-submit entry point for `skysift load-catalog` (see lib/skysift/stages/load_catalog/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("load-catalog")
