"""skysift.report"""
