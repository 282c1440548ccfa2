"""Destinations register here: `type` in accord.yaml → the module whose
`open_destination(config, root, workspace_name, sandbox)` connects."""

DESTINATIONS: dict[str, str] = {
    "marketo": "accord.activation.destinations.marketo",
    "file": "accord.activation.destinations.file",
    "webhook": "accord.activation.destinations.webhook",
}
