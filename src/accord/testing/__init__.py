"""Local stand-ins for external systems, answering over real HTTP on 127.0.0.1: for tests, demos and benchmarks."""
