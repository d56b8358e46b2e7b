"""The desktop window (``classroom play``): pygame-ce scenes over a model fed by the event stream.

:mod:`classroom.window.model` turns events into the state of the class and
imports no pygame; everything that draws lives beside it.
"""
