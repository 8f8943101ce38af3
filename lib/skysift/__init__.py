"""skysift: find target objects in survey-scale astronomy data with Apache Spark."""

__version__ = "0.1.0"
