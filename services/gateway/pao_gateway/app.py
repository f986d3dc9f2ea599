"""Composition root of the gateway: the public HTTP API."""

from __future__ import annotations

from fastapi import FastAPI
from pao_common.service import ServiceRuntime, ServiceSpec, create_service_app
from pao_common.settings import Settings, get_settings

SPEC = ServiceSpec(name="gateway", uses_database=True, uses_redis=True)


def wire(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Register the gateway's routes and subscribers."""


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or get_settings(), wire, title="PAO gateway")
