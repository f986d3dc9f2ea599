"""pao_gateway"""
