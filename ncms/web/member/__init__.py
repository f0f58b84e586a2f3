"""The member page: a person on a county's register, masked; their claims over the years,
enrolments and findings."""
from .views import bp

__all__ = ["bp"]
