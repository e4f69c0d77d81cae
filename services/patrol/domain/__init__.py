"""Pure rules of the patrol service: no I/O, no await, the clock passed in."""
