"""The review web app (``qa-pipeline serve``): FastAPI pages and JSON API over
:mod:`qa_pipeline.review`.
"""

from qa_pipeline.web.app import create_app
from qa_pipeline.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
