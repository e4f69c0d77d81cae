"""Pure rules of the incidents service: no I/O, no await, the clock passed in."""
