"""Branches, instruments, surveys and responses."""
