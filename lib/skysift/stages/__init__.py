"""One package per job, named as the job: `skysift foo-bar` is `skysift.stages.foo_bar`
(config.py, tasks.py, job.py)."""
