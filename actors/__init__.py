"""Actors of the engine: feeds, books, strategies, risk, execution, portfolio, recorder."""
