"""skysift.ingest"""
