"""spark-submit entry point for `skysift benchmark`."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("benchmark")
