"""What every skysift job shares, written once: Spark session, staged output, rejects, executor tasks,
the executor cache, the job summary, MLflow tracking and the user-error base class (DESIGN.md rev. 2)."""
