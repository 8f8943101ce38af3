"""spark-submit entry point for `skysift build-kb` (see lib/skysift/stages/build_kb/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("build-kb")
