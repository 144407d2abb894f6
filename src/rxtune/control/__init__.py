"""The control channel between the bench and `rxtune serve` on a peer host: a pre-shared key
(keys.py) and messages authenticated under a key fresh for each session (channel.py)."""
