"""Thin wrappers over scikit-learn's metrics that return the plain dicts skysift's reports store."""
