"""The WSGI entry point: ``gunicorn wsgi:app`` (see gunicorn.conf.py, which starts the
dispatcher in each worker after it forks). A bad setting stops it with one line naming it."""

import sys

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"orderflow: {error}")
