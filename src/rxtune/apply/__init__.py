"""Apply, verify and revert: every write to the receive path goes through here, journaled."""
