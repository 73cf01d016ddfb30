"""The archive's storage: the object store, the writer's lock, the manifest chain, publishing files."""
