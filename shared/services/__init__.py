"""Use cases over ports; they hold the orchestration, not the rules."""
