"""The C engine (the hot loops) and its thin Python wrapper: sockets set up for a strategy."""
