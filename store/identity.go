package store

import (
	bolt "go.etcd.io/bbolt"
)

// A phone is found by its sip_user: under its brand when the call's domain is the brand's
// sip_domain, otherwise among every user of the platform with that sip_user (Rules.UserBySIP),
// where two users with the same sip_user match nobody. So a sip_user shared by two brands is
// ambiguous as soon as one of them has no sip_domain: another brand's admin creating it would
// turn the first user's calls anonymous. These checks refuse that provisioning (ECONFLICT).

// brandDomains maps every brand id to its sip_domain ("" when it has none).
func brandDomains(tx *bolt.Tx) (map[string]string, error) {
	out := map[string]string{}
	err := forEachJSON(tx, bBrands, func(b *Brand) error {
		out[b.ID] = b.SIPDomain
		return nil
	})
	return out, err
}

// companyBrands maps every company id to its brand id.
func companyBrands(tx *bolt.Tx) (map[string]string, error) {
	out := map[string]string{}
	err := forEachJSON(tx, bCompanies, func(c *Company) error {
		out[c.ID] = c.BrandID
		return nil
	})
	return out, err
}

// checkSIPUserUnambiguous refuses u (of brandID) when another brand has a user with the same
// sip_user and either brand has no sip_domain. Errors: ECONFLICT on "sip_user".
func checkSIPUserUnambiguous(tx *bolt.Tx, u *User, brandID string) error {
	domains, err := brandDomains(tx)
	if err != nil {
		return err
	}
	brands, err := companyBrands(tx)
	if err != nil {
		return err
	}
	return forEachJSON(tx, bUsers, func(o *User) error {
		if o.ID == u.ID || o.SIPUser != u.SIPUser {
			return nil
		}
		other := brands[o.CompanyID]
		if other != brandID && (domains[brandID] == "" || domains[other] == "") {
			return Conflict("sip_user", "sip_user %q is used by a phone of another brand, and a brand without sip_domain cannot tell them apart: choose another sip_user or give both brands a sip_domain", u.SIPUser)
		}
		return nil
	})
}

// checkBrandDomainUnambiguous refuses clearing the sip_domain of brand b when one of its users
// shares a sip_user with a user of another brand. Errors: ECONFLICT on "sip_domain".
func checkBrandDomainUnambiguous(tx *bolt.Tx, b *Brand) error {
	if b.SIPDomain != "" {
		return nil
	}
	brands, err := companyBrands(tx)
	if err != nil {
		return err
	}
	byBrand := map[string]map[string]bool{} // sip_user → brands using it
	err = forEachJSON(tx, bUsers, func(o *User) error {
		if byBrand[o.SIPUser] == nil {
			byBrand[o.SIPUser] = map[string]bool{}
		}
		byBrand[o.SIPUser][brands[o.CompanyID]] = true
		return nil
	})
	if err != nil {
		return err
	}
	for sipUser, users := range byBrand {
		if users[b.ID] && len(users) > 1 {
			return Conflict("sip_domain", "the brand's sip_user %q is used by another brand too: without a sip_domain its calls could not tell the two apart", sipUser)
		}
	}
	return nil
}
