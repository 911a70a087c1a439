"""winpod: Windows-aware admission control for Kubernetes."""

__version__ = "0.1.0"
