"""Clients of the systems outside the leads database, each on its provider's hook."""
