-- Sig Server schema, version 004: the witness role (SPEC.md "Witnesses"): reserved, filled by the witness work.
SELECT 1;
