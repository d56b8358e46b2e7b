"""The game's window (pygame-ce): the app, its scenes, the room's view, the HUD and the config panel.

Everything here draws; what it draws comes from :mod:`classroom.game.model`.
"""
