"""Activation: send audience memberships to destinations as deltas, with a receipt for every change."""
