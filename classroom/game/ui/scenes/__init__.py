"""The window's scenes, one module each: title, levels (select), lesson, play, results, replay.

Each scene owns its input and its drawing and registers itself by name
(:mod:`~classroom.game.ui.scenes.base`); no scene imports another.
:class:`~classroom.game.ui.app.App` imports every scene module once, runs the
current scene and switches between them by name.  Drawing helpers they share
are in :mod:`~classroom.game.ui.scenes.common`.
"""
