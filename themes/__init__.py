"""Textual themes for podium."""
