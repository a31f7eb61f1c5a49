"""The aiohttp edge: REST under /api/v1, the /ws WebSocket, auth, rate limits and webhooks."""
