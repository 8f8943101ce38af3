"""skysift.models"""
