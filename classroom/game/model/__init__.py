"""The game's model side: state, rules, rounds and progress, with no pygame.

Nothing here draws or imports pygame or :mod:`classroom.game.ui`; of the mesh
it uses only the round runner (:mod:`classroom.mesh.runtime.round`, for a
:class:`~classroom.game.model.session.Session`) and pure policy data
(:mod:`classroom.mesh.control.policy`).  Tests check both in a fresh
interpreter (``tests/test_game_model.py``).
"""
