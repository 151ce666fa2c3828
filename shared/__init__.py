"""The function app's own library: domain, services, adapters, configuration, CLI."""
