"""Request handlers of the REST API, one module per area of the reference."""
