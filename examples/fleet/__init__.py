"""A fleet of three instances of one small shop service behind one Prometheus (see docs/fleet.md).

``fastapi_app`` (uvicorn), ``flask_app`` (gunicorn, 2 workers, multiprocess mode) and ``django_app`` (uvicorn,
async views) serve the same routes; ``launch`` starts them, writes Prometheus' file_sd targets, rules and config.
"""
