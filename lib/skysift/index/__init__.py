"""skysift.index"""
