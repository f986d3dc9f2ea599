"""The JIRA sandbox, put together: its state and lookups (``state``), how it writes
(``rendering``) and reads (``validation``) issues, what happens to them (``workflow``),
JQL search (``search``), the REST API's routes (``routes``) and its own pages (``ui``)."""

from __future__ import annotations

from fastapi import FastAPI

from pao_sandbox.jira.routes import (
    add_comment_routes,
    add_issue_routes,
    add_metadata_routes,
    add_search_routes,
    add_transition_routes,
)
from pao_sandbox.jira.search import JiraSearch
from pao_sandbox.jira.ui import add_sandbox_routes
from pao_sandbox.jira.workflow import JiraWorkflow


class JiraSandbox(JiraWorkflow, JiraSearch):
    """JIRA Server/DC or Cloud (``JiraConfig.deployment``), mounted at ``/jira``."""

    def add_routes(self, app: FastAPI) -> None:
        add_metadata_routes(app, self)
        add_issue_routes(app, self)
        add_transition_routes(app, self)
        add_comment_routes(app, self)
        add_search_routes(app, self)
        add_sandbox_routes(app, self)
