"""The web interface for people at ``/``: server-rendered pages over the same gateway as the REST API.

Pages sign in with a username and API token kept in a signed session cookie;
every form carries a per-session CSRF token; templates escape all output and
job descriptions are Markdown with raw HTML turned off. The only script is the
small ``static/ui.js`` (live log, object pickers); there is no build step.
"""
