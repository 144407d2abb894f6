"""Host changes: everything rxtune writes to the machine goes through here, below both
measure (a bench's changes for its run) and apply (set/tune, kept until revert).

- process: who owns a change (pid and start time) and signals that only the main
  process acts on;
- lock: one host-wide lock, whatever the state directory;
- journal: records with checksums, written before each write, rewritten atomically;
- writer: write one knob and read it back;
- restore: put records back, never over a value someone else set since;
- transient: a bench's changes, restored on exit and by the next run after kill -9;
- recover: what every changing command replays first (killed runs, expired confirmations).
"""
