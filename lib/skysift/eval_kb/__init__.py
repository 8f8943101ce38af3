"""`skysift evaluate-kb`: held-out evaluation of the KB vote, baselines, sweeps and the HTML report."""
