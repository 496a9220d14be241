package cluster

import (
	"context"
	"fmt"
	"time"
)

// Heartbeat intervals: a replica reports every DefaultBeatInterval and
// counts as live while its last report is younger than DefaultStaleAfter.
const (
	DefaultBeatInterval = 5 * time.Second
	DefaultStaleAfter   = 30 * time.Second
	// forgetAfter removes the rows of replicas gone this long.
	forgetAfter = 24 * time.Hour
)

// Heartbeat is what one replica reports about itself.
type Heartbeat struct {
	Replica string `json:"replica"`
	// ConfigRevision and ConfigHash are the configuration it serves
	// (revision 0 with a configuration from a file).
	ConfigRevision int64  `json:"config_revision"`
	ConfigHash     string `json:"config_hash"`
	PolicyRevision string `json:"policy_revision"`
	// FailedRevision, when not 0, is a newer revision it could not apply,
	// and FailedError why.
	FailedRevision int64     `json:"failed_revision,omitempty"`
	FailedError    string    `json:"failed_error,omitempty"`
	Started        time.Time `json:"started"`
	// Seen is when the database received the report (the database's
	// clock, so replicas' clocks need not agree).
	Seen time.Time `json:"seen"`
}

// nowUS is the database's clock in microseconds since the epoch.
const nowUS = `(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT`

// Beat records h as its replica's latest report, and forgets replicas gone
// for a day.
func (db *DB) Beat(ctx context.Context, h Heartbeat) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO replica_heartbeats
		(replica, config_revision, config_hash, policy_revision, failed_revision, failed_error, started_us, seen_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7, `+nowUS+`)
		ON CONFLICT (replica) DO UPDATE SET config_revision = excluded.config_revision,
			config_hash = excluded.config_hash, policy_revision = excluded.policy_revision,
			failed_revision = excluded.failed_revision, failed_error = excluded.failed_error,
			started_us = excluded.started_us, seen_us = excluded.seen_us`,
		h.Replica, h.ConfigRevision, h.ConfigHash, h.PolicyRevision, h.FailedRevision, h.FailedError, h.Started.UnixMicro())
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if _, err := db.pool.Exec(ctx, `DELETE FROM replica_heartbeats WHERE seen_us < `+nowUS+` - $1`, forgetAfter.Microseconds()); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Leave removes a replica's report: it stopped cleanly.
func (db *DB) Leave(ctx context.Context, replica string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM replica_heartbeats WHERE replica = $1`, replica); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Replicas returns the reports younger than staleAfter, by replica name.
func (db *DB) Replicas(ctx context.Context, staleAfter time.Duration) ([]Heartbeat, error) {
	rows, err := db.pool.Query(ctx, `SELECT replica, config_revision, config_hash, policy_revision,
		failed_revision, failed_error, started_us, seen_us
		FROM replica_heartbeats WHERE seen_us >= `+nowUS+` - $1 ORDER BY replica`, staleAfter.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("replicas: %w", err)
	}
	defer rows.Close()
	out := []Heartbeat{}
	for rows.Next() {
		var h Heartbeat
		var started, seen int64
		if err := rows.Scan(&h.Replica, &h.ConfigRevision, &h.ConfigHash, &h.PolicyRevision,
			&h.FailedRevision, &h.FailedError, &started, &seen); err != nil {
			return nil, fmt.Errorf("replicas: %w", err)
		}
		h.Started, h.Seen = time.UnixMicro(started).UTC(), time.UnixMicro(seen).UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replicas: %w", err)
	}
	return out, nil
}
