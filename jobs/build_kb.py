"""spark-submit entry point for `skysift build-kb` (see lib/skysift/index/build.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("build-kb")
