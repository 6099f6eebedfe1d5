package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// tenantCo is one company of the test world with its objects and tokens.
type tenantCo struct {
	key               string // "A1"…"B2"
	brand             *store.Brand
	co                *store.Company
	ddi               *store.DDI
	user, user2       *store.User
	adminTok, userTok string // secrets
	adminTokID        string
	recDDI, recOwn    *store.Recording // a DDI recording; an on-demand one requested by user
	recOther          *store.Recording // on-demand, requested by user2
}

// world is two brands × two companies, every role's token, and ready recordings.
type world struct {
	tb       testing.TB
	db       *store.DB
	srv      *Server
	dir      string
	mp3      []byte
	platform string
	brandTok map[string]string // "A"/"B" → secret
	brands   map[string]*store.Brand
	cos      []*tenantCo
}

// caller of the isolation tests.
type actor struct {
	name    string
	role    string
	brand   string // "A"/"B" ("" for platform)
	company string // "A1"… for company roles
	token   string
	userID  string
}

func newWorld(t testing.TB, opt ...func(*Server)) *world {
	t.Helper()
	ctx := context.Background()
	db := MustOpenStore(t)
	w := &world{db: db, dir: t.TempDir(), mp3: testMP3(t, 2), brandTok: map[string]string{}, brands: map[string]*store.Brand{}}
	w.platform = mustToken(t, db, store.Token{Role: store.RolePlatform})
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	for bi, bk := range []string{"A", "B"} {
		b := &store.Brand{Name: "Brand " + bk, SIPDomain: fmt.Sprintf("pbx%s.example.com", bk)}
		must(t, db.CreateBrand(ctx, b))
		w.brands[bk] = b
		w.brandTok[bk] = mustToken(t, db, store.Token{Role: store.RoleBrand, BrandID: b.ID})
		for ci := 1; ci <= 2; ci++ {
			key := fmt.Sprintf("%s%d", bk, ci)
			tc := &tenantCo{key: key, brand: b, co: &store.Company{BrandID: b.ID, Name: "Company " + key, OnDemand: store.OnDemandKey, OnDemandCode: "7"}}
			must(t, db.CreateCompany(ctx, tc.co))
			tc.ddi = &store.DDI{CompanyID: tc.co.ID, Number: fmt.Sprintf("+349112345%d%d", bi, ci), RecordCalls: store.RecordAll}
			must(t, db.CreateDDI(ctx, tc.ddi))
			tc.user = &store.User{CompanyID: tc.co.ID, Name: "Alice " + key, Extension: "101", SIPUser: "alice" + key}
			must(t, db.CreateUser(ctx, tc.user))
			tc.user2 = &store.User{CompanyID: tc.co.ID, Name: "Bob " + key, Extension: "102", SIPUser: "bob" + key}
			must(t, db.CreateUser(ctx, tc.user2))
			tc.adminTok = mustToken(t, db, store.Token{Role: store.RoleCompanyAdmin, CompanyID: tc.co.ID})
			toks, err := db.Tokens(ctx, store.TokenFilter{CompanyID: tc.co.ID})
			must(t, err)
			tc.adminTokID = toks[0].ID
			tc.userTok = mustToken(t, db, store.Token{Role: store.RoleUser, UserID: tc.user.ID})
			at := func() time.Time { n++; return start.Add(time.Duration(n) * time.Minute) }
			tc.recDDI = w.recording(t, tc, store.TypeDDI, "", at())
			tc.recOwn = w.recording(t, tc, store.TypeOnDemand, tc.user.ID, at())
			tc.recOther = w.recording(t, tc, store.TypeOnDemand, tc.user2.ID, at())
			w.cos = append(w.cos, tc)
		}
	}
	w.srv = MustServe(t, db, opt...)
	return w
}

// recording makes a ready recording of tc: a DDI one (userID "") or an on-demand one requested
// by userID.
func (w *world) recording(t testing.TB, tc *tenantCo, typ, userID string, at time.Time) *store.Recording {
	t.Helper()
	r := &store.Recording{CompanyID: tc.co.ID, CallID: "call-" + tc.key, Type: typ, Direction: store.DirectionInbound,
		Caller: "+34600111222", Callee: tc.ddi.Number, StartedAt: at}
	if typ == store.TypeDDI {
		r.Trigger, r.DDIID, r.Recorder = store.TriggerDDI, tc.ddi.ID, tc.ddi.Number
	} else {
		r.Trigger, r.UserID, r.Recorder = store.TriggerKey, userID, "101"
	}
	return mustReadyRecording(t, w.db, w.dir, r, w.mp3)
}

// replaceMP3 gives recording r content as its MP3, as the audio worker would have made it: the
// row is deleted and made again (same fields, a new id, *r updated), since a stored SHA-256 is
// never replaced and a file rewritten under it is an altered file.
func (w *world) replaceMP3(t testing.TB, r *store.Recording, content []byte) {
	t.Helper()
	_, err := w.db.DeleteRecording(context.Background(), r.ID)
	must(t, err)
	fresh := &store.Recording{CompanyID: r.CompanyID, CallID: r.CallID, Type: r.Type, Trigger: r.Trigger, Direction: r.Direction,
		DDIID: r.DDIID, UserID: r.UserID, Recorder: r.Recorder, Caller: r.Caller, Callee: r.Callee, StartedAt: r.StartedAt}
	*r = *mustReadyRecording(t, w.db, w.dir, fresh, content)
}

func (w *world) co(key string) *tenantCo {
	for _, c := range w.cos {
		if c.key == key {
			return c
		}
	}
	panic("no company " + key)
}

// actors returns every caller: the platform admin, both brand admins, and the company admin and
// company user of each of the four companies.
func (w *world) actors() []actor {
	as := []actor{{name: "platform", role: store.RolePlatform, token: w.platform}}
	for _, bk := range []string{"A", "B"} {
		as = append(as, actor{name: "brand" + bk, role: store.RoleBrand, brand: bk, token: w.brandTok[bk]})
	}
	for _, tc := range w.cos {
		as = append(as,
			actor{name: "admin" + tc.key, role: store.RoleCompanyAdmin, brand: tc.key[:1], company: tc.key, token: tc.adminTok},
			actor{name: "user" + tc.key, role: store.RoleUser, brand: tc.key[:1], company: tc.key, token: tc.userTok, userID: tc.user.ID})
	}
	return as
}

// sees is SPEC §1's tenancy: does actor a see company key at all?
func (a actor) sees(key string) bool {
	switch a.role {
	case store.RolePlatform:
		return true
	case store.RoleBrand:
		return key[:1] == a.brand
	default:
		return key == a.company
	}
}

func rank(role string) int { return roleRank(role) }

func bytesContains(b []byte, s string) bool { return strings.Contains(string(b), s) }
