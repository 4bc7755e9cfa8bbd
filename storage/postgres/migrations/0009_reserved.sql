-- Reserved: version 9 belongs to a migration of another branch, merged
-- before this one. This placeholder keeps the numbering without gaps on
-- this branch alone and changes nothing ({{prefix}} is the table prefix,
-- as everywhere); the merge replaces it.
SELECT 1;
