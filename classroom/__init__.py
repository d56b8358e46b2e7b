"""Classroom Mesh: learn how a service mesh works by passing notes in class."""

__version__ = "0.1.0"
