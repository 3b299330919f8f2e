"""Security: de-identification, passwords, permissions, tokens and audit messages.

The parts here need neither the index database nor the web app; users, sessions and the
HTTP middleware build on them.
"""
