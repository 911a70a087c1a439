"""The admission webhook behind `winpod serve`: FastAPI app, AdmissionReview, TLS reload."""

from .app import create_app

__all__ = ["create_app"]
