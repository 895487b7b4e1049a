"""Psychometrics feature: reliability / validity and EFA of a survey's responses."""
