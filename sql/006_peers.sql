-- Sig Server schema, version 006: peers this server follows (SPEC.md "Gossip"): reserved, filled by the peering work.
SELECT 1;
