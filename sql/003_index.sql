-- Sig Server schema, version 003: the verifiable index (SPEC.md "The index"): reserved, filled by the index work.
SELECT 1;
