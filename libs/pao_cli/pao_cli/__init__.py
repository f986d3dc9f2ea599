"""pao_cli"""
