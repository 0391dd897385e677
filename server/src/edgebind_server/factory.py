"""Build the ASGI app from environment variables, for multi-worker serving.

``edgebind serve --workers N`` cannot hand an app object to uvicorn's worker
processes, so it sets the variables below and passes the import string
``edgebind_server.factory:app_from_env``. Each worker then loads the same
config file for the same environment; the server keeps no per-process state
that could make workers disagree.
"""

from __future__ import annotations

import logging
import os

from edgebind.config import load_config
from edgebind.runtime import Runtime
from edgebind_server.app import create_app

__all__ = ["CONFIG_ENV_VAR", "ENV_ENV_VAR", "FACTORY_IMPORT", "app_from_env"]

logger = logging.getLogger(__name__)

CONFIG_ENV_VAR = "EDGEBIND_CONFIG"
ENV_ENV_VAR = "EDGEBIND_ENV"
FACTORY_IMPORT = "edgebind_server.factory:app_from_env"


def app_from_env() -> object:
    """The app for the config in ``EDGEBIND_CONFIG`` (default: the
    ``edgebind.config.py`` of the working directory) and the environment in
    ``EDGEBIND_ENV`` (default ``dev``)."""
    config = load_config(os.environ.get(CONFIG_ENV_VAR) or None)
    env_name = os.environ.get(ENV_ENV_VAR) or "dev"
    logger.info("Worker %d serving environment %s.", os.getpid(), env_name)
    return create_app(Runtime(config, env_name))
