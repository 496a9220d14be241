-- grants: the sources of the grants that allowed the request
-- ("temp_grants[0].grants[1]", "tailnet:caps[0]", ...), as a JSON array of
-- strings; '' when none did (a refused request, and rows written before).
-- Plain text holding JSON, as in SQLite, so both backends write and read
-- it with the same queries; cast to jsonb to query inside it.
ALTER TABLE requests ADD COLUMN grants TEXT NOT NULL DEFAULT '';
