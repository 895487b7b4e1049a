"""Audit log: who (key id) did what to respondent data, keys and privacy settings, and when."""
