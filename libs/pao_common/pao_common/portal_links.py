"""Links people follow into the portal, built in this one place.

The gateway serves the portal at ``<portal_url>/portal/`` and the portal routes by the
URL fragment (``#/requests/<id>``), so a request's page is
``<portal_url>/portal/#/requests/<id>``. Templates get it as ``request.url`` (a JIRA
ticket's link back to its request); the gateway also answers the older form
``<portal_url>/requests/<id>``, which tickets written before ``request.url`` existed carry,
with a redirect to the same page (``REQUEST_PAGE`` is the route both use).

``portal_url`` is the gateway's public base URL (``PAO_PORTAL_URL``); one that already
ends in ``/portal`` is accepted as well.
"""

from __future__ import annotations

from urllib.parse import quote

PORTAL_PATH = "/portal/"
REQUEST_PAGE = "#/requests/{request_id}"


def request_page(request_id: str) -> str:
    """The portal route of a request, relative to the portal page (``#/requests/<id>``)."""
    return REQUEST_PAGE.format(request_id=quote(str(request_id), safe=""))


def request_url(portal_url: str, request_id: str) -> str:
    """The absolute link to a request's page in the portal."""
    base = portal_url.rstrip("/")
    if base.endswith(PORTAL_PATH.rstrip("/")):
        base = base[: -len(PORTAL_PATH.rstrip("/"))]
    return f"{base}{PORTAL_PATH}{request_page(request_id)}"
