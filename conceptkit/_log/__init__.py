"""The action log: records, their documents, what cannot be stored, and the collection."""
