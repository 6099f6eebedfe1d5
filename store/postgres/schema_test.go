package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/callrec/callrec/store"
)

// TestSchema_MirrorsEveryFieldOfStoresEntities: each field of each persisted store type has
// its column (the JSON name, or the snake_case field name for fields JSON leaves out), so a
// field added to package store without a migration here fails this test.
func TestSchema_MirrorsEveryFieldOfStoresEntities(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	renamed := map[string]string{"holds.from": "from_at", "holds.to": "to_at"}
	for _, c := range []struct {
		table string
		typ   any
	}{
		{"brands", store.Brand{}},
		{"companies", store.Company{}},
		{"ddis", store.DDI{}},
		{"users", store.User{}},
		{"tokens", store.Token{}},
		{"recordings", store.Recording{}},
		{"jobs", store.Job{}},
		{"holds", store.Hold{}},
		{"audit", store.AuditEntry{}},
		{"webhooks", store.Webhook{}},
		{"deliveries", store.Delivery{}},
		{"data_keys", store.DataKey{}},
		{"archive_grants", store.ArchiveGrant{}},
	} {
		rows, err := db.pool.Query(context.Background(), "SELECT column_name FROM information_schema.columns WHERE table_name = $1", c.table)
		must(t, err)
		cols := map[string]bool{}
		for rows.Next() {
			var n string
			must(t, rows.Scan(&n))
			cols[n] = true
		}
		must(t, rows.Err())
		if len(cols) == 0 {
			t.Errorf("no table %s", c.table)
			continue
		}
		rt := reflect.TypeOf(c.typ)
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || name == "" {
				name = snake(f.Name)
			}
			if r, ok := renamed[c.table+"."+name]; ok {
				name = r
			}
			if !cols[name] {
				t.Errorf("%s.%s (store.%s.%s) has no column", c.table, name, rt.Name(), f.Name)
			}
		}
	}
}

// snake turns a Go field name into snake_case (WAVPath → wav_path, SHA256 → sha256).
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
