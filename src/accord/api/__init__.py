"""The HTTP side: the collector (Segment HTTP Tracking API) now; the REST API and web UI later."""
