"""skysift.bench"""
