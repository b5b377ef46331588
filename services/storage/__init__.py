"""Storage: one way to reach MongoDB, and the embedded nx-27017 server used when no URI is set.

`database` turns configuration into pymongo clients; `embedded_mongo` runs the embedded server
as a child process (`python -m services.storage.embedded_mongo`).
"""
