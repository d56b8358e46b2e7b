"""The window's scenes, one module each: title, levels (select), lesson, play, results, replay.

Each scene owns its input and its drawing (:class:`~classroom.game.ui.scenes.common.Scene`);
:class:`~classroom.game.ui.app.App` runs the current one and switches between them.
"""
