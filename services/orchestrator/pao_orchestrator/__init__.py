"""pao_orchestrator"""
