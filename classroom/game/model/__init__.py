"""The game's model side: state, rules, rounds and progress, with no pygame.

Nothing here draws or imports pygame or :mod:`classroom.game.ui`; of the mesh
it may use only the round runner (:mod:`classroom.mesh.runtime.round`, for a
:class:`~classroom.game.model.session.Session`, imported when the first
session is made), pure policy data (:mod:`classroom.mesh.control.policy`) and
the outcome table (:mod:`classroom.mesh.outcomes`).  Tests check, in a
fresh interpreter, that the whole model works with pygame unimportable and
that importing it loads neither the room's processes, the proxy nor the
office (``tests/test_game_model.py``).
"""
