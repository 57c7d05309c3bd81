"""``python -m app ...`` is the ``orderflow`` command, for where the project is not installed
(the container image runs it so)."""

from app.cli import main

main()
