"""GitHub sandbox: Actions ``workflow_dispatch``, runs, artifacts and GitHub App tokens.

Mounted at ``/github``: it is the API root (what ``https://api.github.com`` is), so a
client uses ``http://HOST:PORT/github/repos/{owner}/{repo}/...``.

Real API::

    POST /repos/{o}/{r}/actions/workflows/{id|file}/dispatches   204; 200 {workflow_run_id,
         run_url, html_url} with "return_run_details": true; 422 on bad ref/inputs
    GET  /repos/{o}/{r}/actions/workflows[/{id|file}]
    GET  /repos/{o}/{r}/actions/runs          ?event= &status= &branch= &actor= &created=
    GET  /repos/{o}/{r}/actions/workflows/{id|file}/runs           (same filters)
    GET  /repos/{o}/{r}/actions/runs/{run_id}
    POST /repos/{o}/{r}/actions/runs/{run_id}/cancel               202; 409 if completed
    GET  /repos/{o}/{r}/actions/runs/{run_id}/artifacts             ?name=
    GET  /repos/{o}/{r}/actions/artifacts/{artifact_id}[/zip]       zip: 302 to a blob URL
    GET  /app, GET /repos/{o}/{r}/installation                      with the app's JWT
    POST /app/installations/{installation_id}/access_tokens          201 {token, expires_at}

Auth: ``Authorization: Bearer|token <t>`` where ``t`` is one of ``tokens`` or an
installation token the sandbox issued; app endpoints take an RS256 JWT signed with the
key whose public half is ``app_public_key`` (unset: the sandbox makes a key pair and
hands the private key out at ``GET /sandbox/app``).

As on GitHub, the runs list does NOT carry the dispatch inputs. Correlate through the
run's ``display_title``, rendered from the workflow's ``run-name`` template
(``run_name``; for workflows the sandbox invents: ``default_run_name``, which shows
``inputs.correlation_id``). Only ``${{ inputs.x }}``, ``${{ github.event.inputs.x }}``,
``${{ github.workflow|actor|ref_name }}`` and ``a || 'literal'`` are understood.

Runs go queued -> in_progress -> completed after ``queued_s`` / ``in_progress_s`` (None:
wait for a person), concluding with the workflow's ``conclusion`` and uploading its JSON
artifact. Sandbox side: ``POST /sandbox/runs/{id}/complete {"conclusion", "artifact"}``,
``GET /ui`` (all runs) and each run's ``html_url`` page, both with buttons.

Modules: ``config``, ``state``, ``runs``, ``rendering``, ``routes`` (the API), ``ui`` (the
sandbox's own side) and ``sandbox`` (``GithubSandbox``, all of them together).
"""

from pao_sandbox.github.config import GithubConfig, GithubWorkflow, render_run_name
from pao_sandbox.github.sandbox import GithubSandbox

__all__ = ["GithubConfig", "GithubSandbox", "GithubWorkflow", "render_run_name"]
