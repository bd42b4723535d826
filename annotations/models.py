"""Database models (see the web issue)."""
