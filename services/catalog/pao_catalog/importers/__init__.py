"""Importers: documents of other tools turned into Schema v2.0 catalog items.

``backstage`` reads Backstage Software Templates (``scaffolder.backstage.io/v1beta3``).
An importer never drops anything silently: what it could not convert is a ``Finding``
with the source line, listed in the report and marked with a comment in the output.
"""
