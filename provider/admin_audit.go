package provider

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// auditDoc is an audit event as the admin API shows it.
type auditDoc struct {
	ID         string            `json:"id"`
	Time       string            `json:"time"` // RFC 3339 in UTC, with microseconds
	Type       string            `json:"type"`
	Actor      auditActorDoc     `json:"actor"`
	Target     string            `json:"target"`
	ClientID   string            `json:"client_id"`
	Subject    string            `json:"subject"`
	RequestID  string            `json:"request_id"`
	ClientAddr string            `json:"client_addr"`
	Details    map[string]string `json:"details"`
}

type auditActorDoc struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// auditTimeFormat is how the admin API writes an event's time: RFC 3339,
// always with six fractional digits, so that the text sorts as the times do.
const auditTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

func auditDocOf(e storage.AuditEvent) auditDoc {
	d := auditDoc{
		ID: e.ID, Time: e.Time.UTC().Format(auditTimeFormat), Type: e.Type,
		Actor:  auditActorDoc{Kind: string(e.Actor.Kind), ID: e.Actor.ID},
		Target: e.Target, ClientID: e.ClientID, Subject: e.Subject,
		RequestID: e.RequestID, ClientAddr: e.ClientAddr, Details: make(map[string]string, len(e.Details)),
	}
	for _, x := range e.Details {
		d.Details[x.Name] = x.Value
	}
	return d
}

// auditPage is the answer to GET /audit.
type auditPage struct {
	Items      []auditDoc `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

// auditTypeSyntax is what an event type in GET /audit's type parameter
// must look like: a dotted name.
var auditTypeSyntax = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// maxAuditTypes bounds the types one GET /audit may ask for.
const maxAuditTypes = 32

// auditLog serves GET /audit.
func (a *admin) auditLog(w http.ResponseWriter, r *http.Request) {
	q, limit, bad := parseAuditQuery(r.URL.Query())
	if len(bad) > 0 {
		writeAdminError(w, http.StatusBadRequest, "invalid_request", "Some query parameters are invalid; see fields.", bad)
		return
	}
	q.Limit = limit + 1 // one more tells whether there is a next page
	found, err := a.p.AuditEvents(r.Context(), q)
	switch {
	case errors.Is(err, ErrAuditNotSupported):
		writeAdminError(w, http.StatusNotImplemented, "not_implemented",
			"This server's store keeps no audit trail; its events go to the server's log (Config.Auditor) only.", nil)
		return
	case err != nil:
		a.p.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "admin: backend unavailable",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeAdminError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The audit trail could not be read; retry later.", nil)
		return
	}
	page := auditPage{Items: []auditDoc{}}
	if len(found) > limit {
		found = found[:limit]
		page.NextCursor = encodeAuditCursor(found[limit-1].Key())
	}
	for _, e := range found {
		page.Items = append(page.Items, auditDocOf(e))
	}
	writeJSON(w, http.StatusOK, page)
}

// encodeAuditCursor encodes an event's key as a next_cursor: the time in
// microseconds since the epoch and the ID, base64url.
func encodeAuditCursor(k storage.AuditKey) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(k.Time.UnixMicro(), 10) + "." + k.ID))
}

// decodeAuditCursor decodes what encodeAuditCursor encoded.
func decodeAuditCursor(s string) (storage.AuditKey, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return storage.AuditKey{}, false
	}
	micros, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || id == "" || n < 0 || n > maxEpochSeconds*1e6 {
		return storage.AuditKey{}, false
	}
	return storage.AuditKey{Time: time.UnixMicro(n).UTC(), ID: id}, true
}

// parseAuditTime reads since or until: RFC 3339 (with any fraction of a
// second) or whole seconds since the epoch.
func parseAuditTime(v string) (time.Time, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > maxEpochSeconds {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// parseAuditQuery reads GET /audit's query parameters.
func parseAuditQuery(v url.Values) (storage.AuditQuery, int, fieldErrors) {
	bad := fieldErrors{}
	var q storage.AuditQuery
	limit := defaultListLimit
	for name, vals := range v {
		if len(vals) > 1 {
			bad.add(name, "must be given at most once")
			continue
		}
		val := vals[0]
		switch name {
		case "client_id", "subject":
			if val == "" || len(val) > maxAuditText {
				bad.add(name, fmt.Sprintf("must be 1 to %d bytes", maxAuditText))
				continue
			}
			if name == "client_id" {
				q.ClientID = val
			} else {
				q.Subject = val
			}
		case "type":
			types := strings.Split(val, ",")
			if len(types) > maxAuditTypes {
				bad.add(name, fmt.Sprintf("may name at most %d types", maxAuditTypes))
				continue
			}
			for _, t := range types {
				if !auditTypeSyntax.MatchString(t) || len(t) > maxAuditText {
					bad.add(name, `must be event types such as "token.issued", separated by commas`)
					break
				}
				q.Types = append(q.Types, t)
			}
		case "since", "until":
			t, ok := parseAuditTime(val)
			if !ok {
				bad.add(name, "must be a time in RFC 3339 (2026-01-02T15:04:05Z) or whole seconds since the epoch")
				continue
			}
			if name == "since" {
				q.Since = t
			} else {
				q.Until = t
			}
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > maxListLimit {
				bad.add(name, fmt.Sprintf("must be a whole number from 1 to %d", maxListLimit))
				continue
			}
			limit = n
		case "cursor":
			k, ok := decodeAuditCursor(val)
			if !ok {
				bad.add(name, "must be a next_cursor this API returned")
				continue
			}
			q.After = k
		default:
			bad.add(name, "unknown parameter (use client_id, subject, type, since, until, limit, cursor)")
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		bad.add("until", "must be after since")
	}
	return q, limit, bad
}
