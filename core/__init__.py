"""The engine's foundation: value types, ids, clocks, configuration, errors and the actor runtime.

Nothing here knows an exchange, a database or the API edge.
"""
