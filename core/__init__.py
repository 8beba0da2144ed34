"""The kernel: ids, money amounts, errors, events and the clock. Imports the standard library only."""
