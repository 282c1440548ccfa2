"""The web UI: server-rendered pages over the same services the REST API uses, plus a little JavaScript."""
