"""The HTTP face: WSGI/ASGI app, built-in server, dashboard."""
