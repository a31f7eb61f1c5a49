"""Market-data feeds: exchange WebSocket protocols, REST snapshots, book sync and symbols."""
