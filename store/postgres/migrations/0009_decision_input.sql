-- decision: what the request's access decision was made on beyond the
-- row's other columns (the caller's tags, groups and tailnet capabilities)
-- and the policy's answer, as a JSON object; '' when no decision was made
-- (an unknown model) and for rows written before. `sluice policy replay`
-- decides these inputs again under a candidate policy.
ALTER TABLE requests ADD COLUMN decision TEXT NOT NULL DEFAULT '';
