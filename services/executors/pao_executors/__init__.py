"""pao_executors"""
