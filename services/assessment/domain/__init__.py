"""Pure rules of assessment: no I/O, no await, no clock (the caller passes days and instants)."""
