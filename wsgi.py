"""The WSGI entry point: ``gunicorn wsgi:app`` (see gunicorn.conf.py, which starts the
dispatcher in each worker after it forks)."""

from app import create_app

app = create_app()
