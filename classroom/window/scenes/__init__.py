"""The window's scenes, one module each: title, levels (select), lesson, play, results, replay.

Each scene owns its input and its drawing (:class:`~classroom.window.scenes.common.Scene`);
:class:`~classroom.window.app.App` runs the current one and switches between them.
"""
