"""Pure domain: no Azure SDK, no I/O, no clock. Time is always a parameter."""
