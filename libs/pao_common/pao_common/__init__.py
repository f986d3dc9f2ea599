"""pao_common"""
