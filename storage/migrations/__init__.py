"""Alembic migrations of the MCTS Lab schema, applied by ``storage.database`` on open."""
