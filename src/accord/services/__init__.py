"""Services: what the CLI, the REST API and the web UI ask of a workspace, in one place, so none of them holds logic."""
