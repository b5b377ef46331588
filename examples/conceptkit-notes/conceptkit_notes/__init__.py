"""Example conceptkit plugin package."""
