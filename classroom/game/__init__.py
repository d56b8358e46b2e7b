"""The game (``classroom play``): a model of the class fed by the event stream, and a pygame-ce UI over it.

* :mod:`classroom.game.model` holds everything that does not draw: the class's
  state built from events (:mod:`~classroom.game.model.classmodel`), the
  editing of the class rules (:mod:`~classroom.game.model.configedit`), a round
  run in a background thread (:mod:`~classroom.game.model.session`) and the
  player's stars (:mod:`~classroom.game.model.progress`).  It imports no pygame
  and nothing of the UI, and of the mesh only the round runner and pure data.
* :mod:`classroom.game.ui` is the window: the app and its loop, the scenes
  (switched by name through the app), the view of the room, the HUD, the
  config panel and its widgets, fonts and colours.

The UI reads the model; the model never reads the UI.
"""
