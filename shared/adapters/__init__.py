"""The outside world: storage, ARM, Monitor, Event Grid. Heavy SDK imports happen lazily."""
