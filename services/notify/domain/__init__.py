"""Pure rules of the notify service: no I/O, no await, the clock passed in."""
