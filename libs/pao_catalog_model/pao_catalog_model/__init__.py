"""pao_catalog_model: the catalog's document language, as a library.

What turns a catalog document (YAML text) into a checked ``CatalogItem`` and what every
service asks of one, with no I/O beyond reading the files it is given:

- ``model``: the document model (``CatalogItem`` and its parts, ``parse_item``);
- ``loader``: files and bytes to items, each problem a ``CatalogError`` with file and line;
- ``validation``, ``operation_checks``: the meaning checks past the JSON Schema
  (references, templating, action inputs, day-2 operations, resources);
- ``schema``: the published JSON Schema of documents;
- ``forms``: the request form's JSON Schema, ``validate_inputs``, ``apply_defaults``;
- ``action_inputs``: the built-in action types' input models, declared once: the
  executors validate their commands with them and ``actions`` reads them;
- ``actions``: the action types a document may name and what each one takes;
- ``preview``, ``expectations``: what an item would do with given inputs, and its examples;
- ``versions``: which version of an item is the latest (``latest_version``), one rule;
- ``retry``: ``RetryPolicy``, a step's ``retry:`` and the delay between attempts;
- ``errors``: the exceptions of the catalog language.

The catalog service (``pao_catalog``) keeps ingestion, the version store, the index and the
API; the gateway, the orchestrator and ``pao`` import this library, not the service.
"""
