-- Sig Server schema, version 005: cosignatures of this log's checkpoints (SPEC.md "Witnesses"): reserved, filled by the cosigning work.
SELECT 1;
