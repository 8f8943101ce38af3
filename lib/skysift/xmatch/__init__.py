"""xmatch"""
