package store

import (
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/callrec/callrec/e164"
)

// Rules is an immutable in-memory snapshot of the call-relevant admin data (brands, companies,
// DDIs, users). The call path (esl, dialplan) reads it without touching disk; DB.Rules returns
// the current one. Values returned are copies; a Rules never changes after it is published.
type Rules struct {
	version       uint64
	brands        map[string]Brand
	brandByDomain map[string]string
	companies     map[string]Company
	ddis          map[string]DDI
	ddiByNumber   map[string]string
	users         map[string]User
	userBySIP     map[string]string   // brand|sip_user -> user id
	usersBySIP    map[string][]string // sip_user -> user ids (platform-wide)
	userByExt     map[string]string   // company|extension -> user id
	countries     map[string]string   // company id -> Company.Country, else derived from its DDIs
	codes         []CodeInUse
}

// CodeInUse is the on-demand code of one company whose on_demand is not disabled.
type CodeInUse struct {
	Code      string
	CompanyID string
}

// Rules returns the current snapshot (never nil once Open succeeded). Any goroutine may call it;
// hold on to the result only for one decision so that admin changes take effect.
func (db *DB) Rules() *Rules { return db.rules.Load() }

func buildRules(tx *bolt.Tx, version uint64) (*Rules, error) {
	var brands []Brand
	var companies []Company
	var ddis []DDI
	var users []User
	if err := forEachJSON(tx, bBrands, func(b *Brand) error { brands = append(brands, *b); return nil }); err != nil {
		return nil, err
	}
	if err := forEachJSON(tx, bCompanies, func(c *Company) error { companies = append(companies, *c); return nil }); err != nil {
		return nil, err
	}
	if err := forEachJSON(tx, bDDIs, func(d *DDI) error { ddis = append(ddis, *d); return nil }); err != nil {
		return nil, err
	}
	if err := forEachJSON(tx, bUsers, func(u *User) error { users = append(users, *u); return nil }); err != nil {
		return nil, err
	}
	return NewRules(version, brands, companies, ddis, users), nil
}

// NewRules builds a snapshot from rows of one committed state, ordered by id: DB builds its
// own from bbolt, package postgres from the rows it reads in one transaction, so both backends
// answer the call path with the same indexes. version must increase with every snapshot the
// caller publishes. The rows are copied; the caller may reuse the slices.
func NewRules(version uint64, brands []Brand, companies []Company, ddis []DDI, users []User) *Rules {
	r := &Rules{
		version:       version,
		brands:        make(map[string]Brand, len(brands)),
		brandByDomain: map[string]string{},
		companies:     make(map[string]Company, len(companies)),
		ddis:          make(map[string]DDI, len(ddis)),
		ddiByNumber:   make(map[string]string, len(ddis)),
		users:         make(map[string]User, len(users)),
		userBySIP:     make(map[string]string, len(users)),
		usersBySIP:    map[string][]string{},
		userByExt:     make(map[string]string, len(users)),
		countries:     map[string]string{},
	}
	for _, b := range brands {
		r.brands[b.ID] = b
		if b.SIPDomain != "" {
			r.brandByDomain[b.SIPDomain] = b.ID
		}
	}
	for _, c := range companies {
		r.companies[c.ID] = cloneCompany(c)
		if c.OnDemand != OnDemandDisabled && c.OnDemandCode != "" {
			r.codes = append(r.codes, CodeInUse{Code: c.OnDemandCode, CompanyID: c.ID})
		}
	}
	sort.Slice(r.codes, func(i, j int) bool {
		if r.codes[i].Code != r.codes[j].Code {
			return r.codes[i].Code < r.codes[j].Code
		}
		return r.codes[i].CompanyID < r.codes[j].CompanyID
	})
	for _, d := range ddis {
		r.ddis[d.ID] = d
		r.ddiByNumber[d.Number] = d.ID
	}
	r.deriveCountries()
	for _, u := range users {
		r.users[u.ID] = u
		r.userBySIP[join(r.companies[u.CompanyID].BrandID, u.SIPUser)] = u.ID
		r.usersBySIP[u.SIPUser] = append(r.usersBySIP[u.SIPUser], u.ID)
		r.userByExt[join(u.CompanyID, u.Extension)] = u.ID
	}
	return r
}

// deriveCountries fills r.countries: a company's own Country, else the region most of its DDIs
// belong to (ties: the alphabetically first), else nothing.
func (r *Rules) deriveCountries() {
	votes := map[string]map[string]int{}
	for _, d := range r.ddis {
		if region := e164.Region(d.Number); region != "" {
			if votes[d.CompanyID] == nil {
				votes[d.CompanyID] = map[string]int{}
			}
			votes[d.CompanyID][region]++
		}
	}
	for id, c := range r.companies {
		if c.Country != "" {
			r.countries[id] = c.Country
			continue
		}
		best, n := "", 0
		for region, k := range votes[id] {
			if k > n || k == n && region < best {
				best, n = region, k
			}
		}
		if best != "" {
			r.countries[id] = best
		}
	}
}

// CompanyCountry returns the country (ISO 3166 alpha-2) the company's users dial national
// numbers in: Company.Country when set, else the region of most of its DDIs, else "" (the
// caller falls back to its default_country). Any goroutine may call it.
func (r *Rules) CompanyCountry(companyID string) string { return r.countries[companyID] }

// Version increases with every published snapshot; equal versions mean equal contents.
func (r *Rules) Version() uint64 { return r.version }

func cloneCompany(c Company) Company {
	if c.AllowRecordingRemoval != nil {
		v := *c.AllowRecordingRemoval
		c.AllowRecordingRemoval = &v
	}
	return c
}

// Company returns the company with id.
func (r *Rules) Company(id string) (Company, bool) {
	c, ok := r.companies[id]
	return cloneCompany(c), ok
}

// Brand returns the brand with id.
func (r *Rules) Brand(id string) (Brand, bool) {
	b, ok := r.brands[id]
	return b, ok
}

// BrandBySIPDomain returns the brand whose sip_domain is domain (case-insensitive).
func (r *Rules) BrandBySIPDomain(domain string) (Brand, bool) {
	id, ok := r.brandByDomain[strings.ToLower(domain)]
	if !ok {
		return Brand{}, false
	}
	return r.brands[id], true
}

// DDI returns the DDI with id and its company.
func (r *Rules) DDI(id string) (DDI, Company, bool) {
	d, ok := r.ddis[id]
	if !ok {
		return DDI{}, Company{}, false
	}
	c, ok := r.Company(d.CompanyID)
	return d, c, ok
}

// DDIByNumber returns the DDI whose number is number (E.164 exactly, e.g. "+34911234567") and
// its company.
func (r *Rules) DDIByNumber(number string) (DDI, Company, bool) {
	id, ok := r.ddiByNumber[number]
	if !ok {
		return DDI{}, Company{}, false
	}
	return r.DDI(id)
}

// User returns the user with id and its company.
func (r *Rules) User(id string) (User, Company, bool) {
	u, ok := r.users[id]
	if !ok {
		return User{}, Company{}, false
	}
	c, ok := r.Company(u.CompanyID)
	return u, c, ok
}

// UserBySIP finds the user behind a channel: when a brand has sip_domain == domain
// (case-insensitive, a ":port" suffix ignored) the user must belong to that brand; otherwise the one user whose sip_user
// is unique on the whole platform (ambiguous names match nobody).
func (r *Rules) UserBySIP(domain, sipUser string) (User, Company, bool) {
	domain = hostOnly(domain)
	if bid, ok := r.brandByDomain[strings.ToLower(domain)]; ok {
		id, ok := r.userBySIP[join(bid, sipUser)]
		if !ok {
			return User{}, Company{}, false
		}
		return r.User(id)
	}
	if ids := r.usersBySIP[sipUser]; len(ids) == 1 {
		return r.User(ids[0])
	}
	return User{}, Company{}, false
}

// UserByExtension returns the user of companyID with extension ext.
func (r *Rules) UserByExtension(companyID, ext string) (User, bool) {
	id, ok := r.userByExt[join(companyID, ext)]
	if !ok {
		return User{}, false
	}
	return r.users[id], true
}

// OnDemandCodes returns, sorted by code then company id, the code of every company whose
// on_demand is not disabled (one entry per company; companies may share a code). For fsconf.
func (r *Rules) OnDemandCodes() []CodeInUse {
	return append([]CodeInUse(nil), r.codes...)
}

// DistinctOnDemandCodes returns the sorted distinct codes of OnDemandCodes.
func (r *Rules) DistinctOnDemandCodes() []string {
	var out []string
	for _, c := range r.codes {
		if len(out) == 0 || out[len(out)-1] != c.Code {
			out = append(out, c.Code)
		}
	}
	return out
}

// hostOnly drops a ":port" suffix from a host name (not from an IPv6 literal).
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && strings.Count(h, ":") == 1 {
		return h[:i]
	}
	return h
}
