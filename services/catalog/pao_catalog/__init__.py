"""pao_catalog: the catalog service.

It ingests the catalog directory (``ingest``, ``watch``), keeps every accepted version
(``store``), serves them from an in-memory index (``index``, ``reads``, ``api``,
``fastpath``, ``schema_api``) and announces them on ``pao.catalog.events`` (``events``);
``importers`` turns Backstage templates into documents. What a document means (the
model, loading and validation, forms) is the library ``pao_catalog_model``.
"""
