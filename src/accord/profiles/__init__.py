"""Profiles: unified person and account views, built from records and identities; lookup by any identity."""
