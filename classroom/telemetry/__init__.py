"""Telemetry built on the office's event stream: recordings, traces, metrics and `linkerd viz`-style views.

Every module here reads plain event dicts (the ones :mod:`classroom.mesh.runtime.events`
sends); none of them touches a socket of the mesh, so each can be fed from a
live round, a subscriber connection or a recording alike.
"""
