"""Test support: real parts started on free loopback ports (Azurite, loopback servers)."""
