"""The hosted connect page (SPEC 4): where the platform sends its user to run Meta's flow."""
