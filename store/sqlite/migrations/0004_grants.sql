-- grants: the sources of the grants that allowed the request
-- ("temp_grants[0].grants[1]", "tailnet:caps[0]", ...), as a JSON array of
-- strings; '' when none did (a refused request, and rows written before).
-- JSON rather than a joined list because a capability name from the
-- tailnet policy file may hold any character.
ALTER TABLE requests ADD COLUMN grants TEXT NOT NULL DEFAULT '';
