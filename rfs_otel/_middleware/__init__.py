"""HTTP server metrics shared by the ASGI, WSGI and Django middleware (OpenTelemetry's HTTP semantic conventions)."""
