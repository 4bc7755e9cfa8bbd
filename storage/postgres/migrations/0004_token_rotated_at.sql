-- Tokens gain rotated_at (storage.Token.RotatedAt): when RotateRefreshToken
-- made a refresh token inactive, set by the same UPDATE. The provider reads
-- it to tell a refresh token presented moments after its rotation (a lost
-- race, within Config.RefreshReuseGrace) from reuse. NULL, as for every
-- token stored before, reads as the zero time: such a token, if inactive,
-- is treated as reused, as before. A plain ADD COLUMN without a default, so
-- existing rows are not rewritten. {{prefix}} is replaced by the table
-- prefix.

ALTER TABLE {{prefix}}tokens ADD COLUMN rotated_at timestamptz;
