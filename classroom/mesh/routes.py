"""The routes over the seating graph live in :mod:`classroom.level.seating`; this re-exports them."""

from classroom.level.seating import ranked_next_hops, seating_graph  # noqa: F401
