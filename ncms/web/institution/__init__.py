"""The institution page: each feature of the anomaly model over time against its peers, its
scores and their explanation, its findings and its costliest claims."""
from .views import bp

__all__ = ["bp"]
