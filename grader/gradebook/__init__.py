"""The gradebook: every grading run, submission, check result and override, kept in SQLite or PostgreSQL."""
