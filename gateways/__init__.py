"""Exchange adapters: WebSocket market data, ccxt execution, the simulated exchange and the emulator."""
