"""Housekeeping jobs on Celery (issue 5 builds the Celery app here)."""
