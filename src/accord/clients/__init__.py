"""One module per external system's API (auth, paging, limits, error codes), shared by sources and destinations."""
