"""pao_catalog"""
