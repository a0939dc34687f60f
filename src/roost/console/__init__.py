"""The operator console at /console: operator accounts, their sign-in, and server-rendered pages
over the same services as the API."""
