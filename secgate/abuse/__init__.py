"""Velocity and SMS-pumping state kept in the hot state."""
