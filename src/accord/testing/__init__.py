"""What the connectors' local stand-ins share (each connector's `server.py`): real HTTP on 127.0.0.1, for tests, the demo
and benchmarks."""
