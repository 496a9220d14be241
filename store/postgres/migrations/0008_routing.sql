-- requested_model: the model the client asked for when force_model,
-- model_aliases or inline parameters routed it to another (model keeps
-- the one called); '' when nothing rewrote it. attempts: the calls made
-- to providers, a JSON array of {"provider", "status", "outcome",
-- "error"} in order, the last being the one that answered; '' when no
-- provider was called.
ALTER TABLE requests ADD COLUMN requested_model TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN attempts TEXT NOT NULL DEFAULT '';
