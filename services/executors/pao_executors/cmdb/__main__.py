"""`python -m pao_executors.cmdb [--port N]`: run the CMDB sync service."""

from pao_common.service import run_service

from pao_executors.cmdb.app import create_app
from pao_executors.registry import CMDB_SYNC_PORT_OFFSET

if __name__ == "__main__":
    run_service(create_app, lambda settings: settings.executors_base_port + CMDB_SYNC_PORT_OFFSET)
